package preprocess

import (
	"context"
	"fmt"
	"math"

	"github.com/nnrunner/nnrunner/stages/crop"
	"github.com/nnrunner/nnrunner/stages/imageio"
	"github.com/nnrunner/nnrunner/stages/resample"
)

// Case is one preprocessed case, in transposed, cropped and resampled
// geometry.
type Case struct {
	// Data is (C, X, Y, Z) float32 in C order; Shape is (C, X, Y, Z).
	Data  []float32
	Shape [4]int
	// Seg is the (X, Y, Z) label map with -1 outside the nonzero region; nil
	// when no label map was given.
	Seg        []int16
	Properties Properties
}

// Properties is what upstream pickles per case (and what the inverse path
// needs).
type Properties struct {
	// Geometry is the image reader's geometry of the original file.
	Geometry imageio.Geometry
	// Spacing is the original spacing in untransposed array order.
	Spacing [3]float64
	// ShapeBeforeCropping, BBox and ShapeAfterCropping are in transposed
	// order; BBox is half-open [start, end) per axis.
	ShapeBeforeCropping [3]int
	BBox                [3][2]int
	ShapeAfterCropping  [3]int
	// ClassLocations holds the sampled voxels per class (training cases).
	ClassLocations []ClassLocations
}

// ClassLocations are the sampled voxels of one class: rows (0, x, y, z)
// into the preprocessed array, in upstream's sampled order.
type ClassLocations struct {
	Key    string
	Coords [][4]int64
}

// TransposedSpacing returns the original spacing in transposed order.
func (c *Config) TransposedSpacing(p *Properties) [3]float64 {
	var s [3]float64
	for i, t := range c.TransposeForward {
		s[i] = p.Spacing[t]
	}
	return s
}

// NewShape is upstream's compute_new_shape: per axis
// int(round(old_spacing / new_spacing * old_shape)), ties to even.
func NewShape(shape [3]int, old, new [3]float64) [3]int {
	var out [3]int
	for i := range out {
		out[i] = int(math.RoundToEven(old[i] / new[i] * float64(shape[i])))
	}
	return out
}

// LabelsFromFloat converts a label map read as float32 into int16 labels,
// rejecting values that are not integers in [0, 32767].
func LabelsFromFloat(v []float32) ([]int16, error) {
	out := make([]int16, len(v))
	for i, x := range v {
		if !(x >= 0 && x <= math.MaxInt16) || float32(int16(x)) != x {
			return nil, fmt.Errorf("label value %v at voxel %d is not an integer in [0, %d]", x, i, math.MaxInt16)
		}
		out[i] = int16(x)
	}
	return out, nil
}

// ReadCase reads a case's channel files and, unless label is empty, its
// label map, checking that both share the grid. The label map is returned
// as int16 in the image's array order (nil without a label).
func ReadCase(images []string, label string) (*imageio.Image, []int16, error) {
	img, err := imageio.ReadImages(images)
	if err != nil {
		return nil, nil, err
	}
	if label == "" {
		return img, nil, nil
	}
	lab, err := imageio.ReadSeg(label)
	if err != nil {
		return nil, nil, err
	}
	if lab.Shape[0] != 1 || [3]int(lab.Shape[1:]) != [3]int(img.Shape[1:]) {
		return nil, nil, fmt.Errorf("label %s has shape %v but image %s has spatial shape %v (array order z,y,x); image and label must share the grid",
			label, lab.Shape, images[0], img.Shape[1:])
	}
	seg, err := LabelsFromFloat(lab.Data)
	if err != nil {
		return nil, nil, fmt.Errorf("label %s: %w", label, err)
	}
	return img, seg, nil
}

// Run preprocesses one case as upstream's run_case_npy: transpose, crop to
// nonzero, normalize, resample, sample class locations. img holds the
// channels as read; seg (the label map in img's spatial shape, untransposed)
// may be nil at inference. workers bounds the goroutines used for
// resampling.
func (c *Config) Run(ctx context.Context, img *imageio.Image, seg []int16, workers int) (*Case, error) {
	nc := img.Shape[0]
	if nc != len(c.Channels) {
		return nil, fmt.Errorf("image has %d channels but configuration %q normalizes %d (plans made for a dataset with a different channel count?)", nc, c.Name, len(c.Channels))
	}
	in := [3]int{img.Shape[1], img.Shape[2], img.Shape[3]}
	n := in[0] * in[1] * in[2]
	if len(img.Data) != nc*n {
		return nil, fmt.Errorf("image holds %d values, shape %v needs %d", len(img.Data), img.Shape, nc*n)
	}
	if seg != nil && len(seg) != n {
		return nil, fmt.Errorf("label map has %d voxels but the image has %v = %d", len(seg), in, n)
	}
	props := Properties{Geometry: img.Geometry, Spacing: img.Spacing}
	data, shape := transpose(img.Data, nc, in, c.TransposeForward)
	var tseg []int16
	if seg != nil {
		tseg, _ = transpose(seg, 1, in, c.TransposeForward)
	}
	props.ShapeBeforeCropping = shape
	cr, err := crop.ToNonzero(data, nc, crop.Shape(shape), tseg)
	if err != nil {
		return nil, err
	}
	props.BBox = cr.Box
	props.ShapeAfterCropping = cr.Shape
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	orig := c.TransposedSpacing(&props)
	target := c.TargetSpacing(orig)
	cropped := [3]int(cr.Shape)
	newShape := NewShape(cropped, orig, target)
	cn := cropped[0] * cropped[1] * cropped[2]
	for ch := 0; ch < nc; ch++ {
		if err := c.Channels[ch].Apply(cr.Data[ch*cn:(ch+1)*cn], cr.Seg); err != nil {
			return nil, fmt.Errorf("normalize channel %d: %w", ch, err)
		}
	}

	out := &Case{Shape: [4]int{nc, newShape[0], newShape[1], newShape[2]}}
	if newShape == cropped {
		// Nothing to resample: upstream returns the arrays unchanged.
		out.Data = cr.Data
		if seg != nil {
			out.Seg = cr.Seg
			props.ClassLocations = sampleLocations(out.Seg, newShape, c.Classes, c.ClassKeys)
		}
		out.Properties = props
		return out, nil
	}
	nn := newShape[0] * newShape[1] * newShape[2]
	out.Data = make([]float32, nc*nn)
	opt := c.Data
	opt.Workers = workers
	for ch := 0; ch < nc; ch++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := resample.Data(out.Data[ch*nn:(ch+1)*nn], resample.Shape(newShape), cr.Data[ch*cn:(ch+1)*cn], resample.Shape(cropped), orig, target, opt); err != nil {
			return nil, fmt.Errorf("resample channel %d: %w", ch, err)
		}
	}
	if seg != nil {
		out.Seg = make([]int16, nn)
		opt := c.Seg
		opt.Workers = workers
		if err := resample.Seg(out.Seg, resample.Shape(newShape), cr.Seg, resample.Shape(cropped), orig, target, opt); err != nil {
			return nil, fmt.Errorf("resample segmentation: %w", err)
		}
		props.ClassLocations = sampleLocations(out.Seg, newShape, c.Classes, c.ClassKeys)
	}
	out.Properties = props
	return out, nil
}

// transpose permutes the spatial axes of a (channels, shape) array: output
// axis k is input axis perm[k]. The identity permutation returns a itself.
func transpose[T any](a []T, channels int, shape [3]int, perm [3]int) ([]T, [3]int) {
	if perm == [3]int{0, 1, 2} {
		return a, shape
	}
	out := make([]T, len(a))
	var ns [3]int
	for k := range ns {
		ns[k] = shape[perm[k]]
	}
	strides := [3]int{shape[1] * shape[2], shape[2], 1}
	s0, s1, s2 := strides[perm[0]], strides[perm[1]], strides[perm[2]]
	n := shape[0] * shape[1] * shape[2]
	for c := 0; c < channels; c++ {
		src, dst := a[c*n:(c+1)*n], out[c*n:(c+1)*n]
		i := 0
		for x := 0; x < ns[0]; x++ {
			for y := 0; y < ns[1]; y++ {
				base := x*s0 + y*s1
				for z := 0; z < ns[2]; z++ {
					dst[i] = src[base+z*s2]
					i++
				}
			}
		}
	}
	return out, ns
}
