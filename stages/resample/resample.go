package resample

import (
	"fmt"
	"math"
)

// Shape is the extent of a single-channel volume along its three axes.
type Shape [3]int

// Len returns the number of voxels.
func (s Shape) Len() int { return s[0] * s[1] * s[2] }

// AnisotropyThreshold is the spacing ratio above which the separate-z path
// is taken (nnU-Net's ANISO_THRESHOLD).
const AnisotropyThreshold = 3.0

// Options mirror the resampling kwargs of an nnU-Net plans configuration.
type Options struct {
	// Order is the spline order used in-plane (separate-z) or in 3-D: 0, 1
	// or 3 for data, 0 or 1 for segmentations.
	Order int
	// OrderZ is the order along the thick axis in the separate-z path; only
	// 0 (nearest) is supported, as in every default plan.
	OrderZ int
	// ForceSeparateZ overrides the anisotropy decision when not nil.
	ForceSeparateZ *bool
	// Threshold is the anisotropy ratio above which the separate-z path is
	// taken; 0 means AnisotropyThreshold.
	Threshold float64
	// Workers is the number of goroutines; values below 1 mean 1.
	Workers int
}

func (o Options) workers() int {
	if o.Workers < 1 {
		return 1
	}
	return o.Workers
}

// SeparateAxis implements determine_do_sep_z_and_axis: it reports whether
// the separate-z path is used and along which axis. The thick axis is taken
// from current when its max/min ratio exceeds threshold (0 means
// AnisotropyThreshold), else from target; several axes sharing the maximum
// spacing disable the path. force, when not nil, replaces the ratio test.
func SeparateAxis(current, target [3]float64, force *bool, threshold float64) (int, bool) {
	if threshold == 0 {
		threshold = AnisotropyThreshold
	}
	var axes []int
	switch {
	case force != nil:
		if !*force {
			return 0, false
		}
		axes = lowresAxes(current)
	case anisotropic(current, threshold):
		axes = lowresAxes(current)
	case anisotropic(target, threshold):
		axes = lowresAxes(target)
	default:
		return 0, false
	}
	if len(axes) != 1 {
		return 0, false
	}
	return axes[0], true
}

func anisotropic(s [3]float64, threshold float64) bool {
	lo, hi := math.Min(s[0], math.Min(s[1], s[2])), math.Max(s[0], math.Max(s[1], s[2]))
	return hi/lo > threshold
}

func lowresAxes(s [3]float64) []int {
	hi := math.Max(s[0], math.Max(s[1], s[2]))
	var axes []int
	for i, v := range s {
		if hi/v == 1 {
			axes = append(axes, i)
		}
	}
	return axes
}

func checkArgs(dstLen int, out Shape, srcLen int, in Shape, opt Options, seg bool) error {
	for a := 0; a < 3; a++ {
		if in[a] < 1 || out[a] < 1 {
			return fmt.Errorf("resample: shapes must be positive, got %v -> %v", in, out)
		}
	}
	if srcLen != in.Len() {
		return fmt.Errorf("resample: source holds %d values, shape %v needs %d", srcLen, in, in.Len())
	}
	if dstLen != out.Len() {
		return fmt.Errorf("resample: destination holds %d values, shape %v needs %d", dstLen, out, out.Len())
	}
	switch {
	case opt.Order == 0 || opt.Order == 1:
	case opt.Order == 3 && !seg:
	default:
		if seg {
			return fmt.Errorf("resample: order %d is not supported for segmentations (use 0 or 1)", opt.Order)
		}
		return fmt.Errorf("resample: order %d is not supported for data (use 0, 1 or 3)", opt.Order)
	}
	if opt.OrderZ != 0 {
		return fmt.Errorf("resample: order_z %d is not supported (only 0, nearest)", opt.OrderZ)
	}
	return nil
}

// Data resamples one channel of intensity data from shape in (spacing
// current) to shape out (spacing target) as nnU-Net's
// resample_data_or_seg_to_shape with is_seg=false does. Equal shapes copy the
// input unchanged.
func Data(dst []float32, out Shape, src []float32, in Shape, current, target [3]float64, opt Options) error {
	if err := checkArgs(len(dst), out, len(src), in, opt, false); err != nil {
		return err
	}
	if in == out {
		copy(dst, src)
		return nil
	}
	axis, sep := SeparateAxis(current, target, opt.ForceSeparateZ, opt.Threshold)
	if !sep {
		resizeVolume(dst, out, src, in, opt.Order, opt.workers())
		return nil
	}
	mid := out
	mid[axis] = in[axis]
	inter := dst
	if mid != out {
		inter = make([]float32, mid.Len())
	}
	resizeSlices(inter, mid, src, in, axis, opt.Order, opt.workers())
	if mid != out {
		copyNearest(dst, out, inter, mid, axis)
	}
	return nil
}

// Seg resamples one label map like resample_data_or_seg_to_shape with
// is_seg=true: per label, order-1 (or 0) resize of the label's mask and a
// 0.5 threshold, larger labels winning; voxels no label reaches stay 0.
func Seg(dst []int16, out Shape, src []int16, in Shape, current, target [3]float64, opt Options) error {
	if err := checkArgs(len(dst), out, len(src), in, opt, true); err != nil {
		return err
	}
	if in == out {
		copy(dst, src)
		return nil
	}
	axis, sep := SeparateAxis(current, target, opt.ForceSeparateZ, opt.Threshold)
	if !sep {
		maps := [3]*axisMap{newAxisMap(in[0], out[0], opt.Order), newAxisMap(in[1], out[1], opt.Order), newAxisMap(in[2], out[2], opt.Order)}
		parallel(opt.workers(), out[0], func(from, to int) {
			labelTensor(dst, out, src, in, maps, from, to)
		})
		return nil
	}
	mid := out
	mid[axis] = in[axis]
	inter := dst
	if mid != out {
		inter = make([]int16, mid.Len())
	}
	h, w := planeShape(in, axis)
	h2, w2 := planeShape(mid, axis)
	maps := [3]*axisMap{newAxisMap(1, 1, 1), newAxisMap(h, h2, opt.Order), newAxisMap(w, w2, opt.Order)}
	parallel(opt.workers(), in[axis], func(from, to int) {
		slice := make([]int16, h*w)
		res := make([]int16, h2*w2)
		for i := from; i < to; i++ {
			gather(slice, src, in, axis, i)
			labelTensor(res, Shape{1, h2, w2}, slice, Shape{1, h, w}, maps, 0, 1)
			scatter(inter, mid, res, axis, i)
		}
	})
	if mid != out {
		copyNearest(dst, out, inter, mid, axis)
	}
	return nil
}

// planeShape returns the two in-plane extents of slices orthogonal to axis.
func planeShape(s Shape, axis int) (int, int) {
	switch axis {
	case 0:
		return s[1], s[2]
	case 1:
		return s[0], s[2]
	}
	return s[0], s[1]
}

// gather copies slice i orthogonal to axis of the volume v (shape s) into
// the contiguous plane p.
func gather[T any](p, v []T, s Shape, axis, i int) {
	switch axis {
	case 0:
		copy(p, v[i*s[1]*s[2]:(i+1)*s[1]*s[2]])
	case 1:
		for x := 0; x < s[0]; x++ {
			copy(p[x*s[2]:(x+1)*s[2]], v[(x*s[1]+i)*s[2]:(x*s[1]+i+1)*s[2]])
		}
	default:
		for x := 0; x < s[0]; x++ {
			for y := 0; y < s[1]; y++ {
				p[x*s[1]+y] = v[(x*s[1]+y)*s[2]+i]
			}
		}
	}
}

// scatter writes the contiguous plane p into slice i orthogonal to axis of
// the volume v (shape s).
func scatter[T any](v []T, s Shape, p []T, axis, i int) {
	switch axis {
	case 0:
		copy(v[i*s[1]*s[2]:(i+1)*s[1]*s[2]], p)
	case 1:
		for x := 0; x < s[0]; x++ {
			copy(v[(x*s[1]+i)*s[2]:(x*s[1]+i+1)*s[2]], p[x*s[2]:(x+1)*s[2]])
		}
	default:
		for x := 0; x < s[0]; x++ {
			for y := 0; y < s[1]; y++ {
				v[(x*s[1]+y)*s[2]+i] = p[x*s[1]+y]
			}
		}
	}
}
