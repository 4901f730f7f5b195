// Package crop implements nnU-Net's crop_to_nonzero: the bounding box of the
// voxels that are nonzero in any channel, after filling enclosed holes with
// 6-connectivity, and the -1 marking of background outside that region in
// the segmentation.
//
// Arrays are C-ordered: an image is (C, X, Y, Z) float32, a segmentation is
// (X, Y, Z) (its single channel), and index (x, y, z) is at (x*Y+y)*Z+z.
package crop

import "fmt"

// Outside is the segmentation value given to background voxels outside the
// filled nonzero mask.
const Outside = -1

// Shape is a spatial (X, Y, Z) array shape.
type Shape [3]int

// Len returns the number of voxels, X*Y*Z.
func (s Shape) Len() int { return s[0] * s[1] * s[2] }

// Box is a bounding box: half-open [start, end) per spatial axis.
type Box [3][2]int

// Shape returns the extent of the box.
func (b Box) Shape() Shape {
	return Shape{b[0][1] - b[0][0], b[1][1] - b[1][0], b[2][1] - b[2][0]}
}

// Label is the element type of a segmentation. It must be signed so that
// the Outside marker fits.
type Label interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~float32 | ~float64
}

// Result is a cropped case.
type Result[S Label] struct {
	Data  []float32 // (C, X', Y', Z'), C-ordered
	Seg   []S       // (X', Y', Z'); background outside the filled mask is Outside
	Shape Shape     // cropped spatial shape (X', Y', Z')
	Box   Box       // crop box in the input array
}

// ToNonzero crops data (channels C, spatial shape shape) and the optional
// segmentation seg to the filled nonzero region, as upstream
// crop_to_nonzero does. With seg == nil a segmentation with 0 inside the
// mask and Outside outside it is created. The inputs are not modified.
func ToNonzero[S Label](data []float32, channels int, shape Shape, seg []S) (*Result[S], error) {
	n := shape.Len()
	if channels < 1 || len(data) != channels*n {
		return nil, fmt.Errorf("crop: image has %d values, want %d channels x %v", len(data), channels, shape)
	}
	if seg != nil && len(seg) != n {
		return nil, fmt.Errorf("crop: segmentation has %d values, want %v", len(seg), shape)
	}
	mask := NonzeroMask(data, channels, shape)
	FillHoles(mask, shape)
	box := BBox(mask, shape)
	res := &Result[S]{
		Data:  Crop(data, channels, shape, box),
		Shape: box.Shape(),
		Box:   box,
	}
	cm := Crop(mask, 1, shape, box)
	if seg == nil {
		res.Seg = make([]S, len(cm))
	} else {
		res.Seg = Crop(seg, 1, shape, box)
	}
	for i, in := range cm {
		if !in && res.Seg[i] == 0 {
			res.Seg[i] = Outside
		}
	}
	return res, nil
}

// NonzeroMask returns the voxels that are nonzero in any channel.
func NonzeroMask(data []float32, channels int, shape Shape) []bool {
	n := shape.Len()
	mask := make([]bool, n)
	for c := range channels {
		ch := data[c*n : (c+1)*n]
		for i, v := range ch {
			if v != 0 {
				mask[i] = true
			}
		}
	}
	return mask
}

// FillHoles sets every false voxel of mask that is not 6-connected to the
// array's faces through false voxels, like scipy.ndimage.binary_fill_holes
// with its default structuring element. It is a breadth-first flood fill
// of the background from the faces; memory is proportional to the front.
func FillHoles(mask []bool, shape Shape) {
	nx, ny, nz := shape[0], shape[1], shape[2]
	n := shape.Len()
	if n == 0 {
		return
	}
	// reached marks background voxels connected to a face.
	reached := make([]bool, n)
	var front, next []int
	visit := func(i int) {
		if !mask[i] && !reached[i] {
			reached[i] = true
			next = append(next, i)
		}
	}
	for x := range nx {
		for y := range ny {
			onFace := x == 0 || x == nx-1 || y == 0 || y == ny-1
			base := (x*ny + y) * nz
			if onFace {
				for z := range nz {
					visit(base + z)
				}
				continue
			}
			visit(base)
			visit(base + nz - 1)
		}
	}
	sy, sx := nz, ny*nz
	for len(next) > 0 {
		front, next = next, front[:0]
		for _, i := range front {
			z := i % nz
			y := (i / nz) % ny
			x := i / sx
			if x > 0 {
				visit(i - sx)
			}
			if x < nx-1 {
				visit(i + sx)
			}
			if y > 0 {
				visit(i - sy)
			}
			if y < ny-1 {
				visit(i + sy)
			}
			if z > 0 {
				visit(i - 1)
			}
			if z < nz-1 {
				visit(i + 1)
			}
		}
	}
	for i, r := range reached {
		if !r {
			mask[i] = true
		}
	}
}

// BBox returns the smallest box holding every true voxel of mask, or the
// full extent when mask has none.
func BBox(mask []bool, shape Shape) Box {
	nx, ny, nz := shape[0], shape[1], shape[2]
	lo := [3]int{nx, ny, nz}
	hi := [3]int{-1, -1, -1}
	for x := range nx {
		for y := range ny {
			row := mask[(x*ny+y)*nz : (x*ny+y+1)*nz]
			first := -1
			last := -1
			for z, m := range row {
				if m {
					if first < 0 {
						first = z
					}
					last = z
				}
			}
			if first < 0 {
				continue
			}
			lo[0], hi[0] = min(lo[0], x), max(hi[0], x)
			lo[1], hi[1] = min(lo[1], y), max(hi[1], y)
			lo[2], hi[2] = min(lo[2], first), max(hi[2], last)
		}
	}
	if hi[0] < 0 {
		return Box{{0, nx}, {0, ny}, {0, nz}}
	}
	return Box{{lo[0], hi[0] + 1}, {lo[1], hi[1] + 1}, {lo[2], hi[2] + 1}}
}

// NonzeroBox returns the box ToNonzero crops to, without building a mask:
// the bounding box of the voxels nonzero in any channel, or the full extent
// when there are none. Filling holes cannot grow it: a background voxel
// outside the box reaches the array's faces along a straight line of
// background voxels, so it is never a hole.
func NonzeroBox(data []float32, channels int, shape Shape) (Box, error) {
	nx, ny, nz := shape[0], shape[1], shape[2]
	n := shape.Len()
	if channels < 1 || len(data) != channels*n {
		return Box{}, fmt.Errorf("crop: image has %d values, want %d channels x %v", len(data), channels, shape)
	}
	lo := [3]int{nx, ny, nz}
	hi := [3]int{-1, -1, -1}
	for x := range nx {
		for y := range ny {
			row := (x*ny + y) * nz
			// Only the part of the row outside the z range found so far
			// can widen it; rows without nonzero voxels are scanned once.
			first, last := -1, -1
			for c := range channels {
				r := data[c*n+row : c*n+row+nz]
				for z, v := range r {
					if v != 0 {
						if first < 0 || z < first {
							first = z
						}
						break
					}
				}
				if first < 0 {
					continue
				}
				for z := nz - 1; z > last; z-- {
					if r[z] != 0 {
						last = z
						break
					}
				}
			}
			if first < 0 {
				continue
			}
			lo[0], hi[0] = min(lo[0], x), max(hi[0], x)
			lo[1], hi[1] = min(lo[1], y), max(hi[1], y)
			lo[2], hi[2] = min(lo[2], first), max(hi[2], last)
		}
	}
	if hi[0] < 0 {
		return Box{{0, nx}, {0, ny}, {0, nz}}, nil
	}
	return Box{{lo[0], hi[0] + 1}, {lo[1], hi[1] + 1}, {lo[2], hi[2] + 1}}, nil
}

// Crop copies box out of every channel of a (channels, shape) array.
func Crop[T any](a []T, channels int, shape Shape, box Box) []T {
	out := make([]T, 0, channels*box.Shape().Len())
	n := shape.Len()
	for c := range channels {
		ch := a[c*n : (c+1)*n]
		for x := box[0][0]; x < box[0][1]; x++ {
			for y := box[1][0]; y < box[1][1]; y++ {
				base := (x*shape[1] + y) * shape[2]
				out = append(out, ch[base+box[2][0]:base+box[2][1]]...)
			}
		}
	}
	return out
}
