// Package imageio reads and writes images the way nnU-Net v2's SimpleITKIO
// does (spec §2.4, §2.5): float32 arrays of shape (C, X, Y, Z) where X is
// the file's slowest axis, spacing in array order, and the geometry needed
// to write predictions back. NIfTI (.nii, .nii.gz) is the supported format.
package imageio

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/nnrunner/nnrunner/stages/imageio/nifti"
)

// Image is all channels of one case, as nnU-Net's reader returns them.
type Image struct {
	// Data holds the voxel values in C order for Shape.
	Data []float32
	// Shape is (C, X, Y, Z): channels, then the spatial axes in array
	// order, which is the file's axis order reversed (z, y, x). A 2-D file
	// gives (C, 1, Y, X).
	Shape [4]int
	// Spacing is the voxel size per spatial axis in array order: the
	// file's pixdim reversed, widened exactly from float32. For a 2-D file
	// the first entry is 999 * the largest in-plane spacing.
	Spacing [3]float64
	// Geometry is the geometry of the first channel file.
	Geometry Geometry
}

// Geometry is what nnU-Net keeps of a file's geometry to write a
// prediction back onto the same grid.
type Geometry struct {
	// Dim is the spatial dimensionality of the file: 2 or 3.
	Dim int `json:"dim"`
	// FileShape is the spatial shape in file order (x, y[, z]).
	FileShape []int `json:"file_shape"`
	// SITK is SimpleITK's view of the geometry (properties['sitk_stuff']).
	SITK SITKStuff `json:"sitk_stuff"`
	// Affine is the voxel-to-RAS affine nibabel reports (get_best_affine).
	Affine nifti.Affine `json:"affine"`
	// NIfTI holds the header fields copied into files written back.
	NIfTI nifti.Geometry `json:"nifti"`
}

// SITKStuff mirrors nnU-Net's properties['sitk_stuff']: spacing, origin and
// direction in ITK (LPS, x-first) order, derived from nibabel's best affine
// (sform before qform) with ITK's RAS->LPS convention (x and y negated), as
// the golden data's SimpleITK stand-in did. It equals SimpleITK's values for
// files whose qform and sform agree; for a 4-D file it describes the three
// spatial axes.
type SITKStuff struct {
	Spacing   []float64 `json:"spacing"`
	Origin    []float64 `json:"origin"`
	Direction []float64 `json:"direction"`
}

// NumVoxels returns the number of voxels per channel.
func (im *Image) NumVoxels() int { return im.Shape[1] * im.Shape[2] * im.Shape[3] }

// Channel returns the voxel values of channel c (a view, not a copy).
func (im *Image) Channel(c int) []float32 {
	n := im.NumVoxels()
	return im.Data[c*n : (c+1)*n]
}

// fileLayout is how one file maps onto nnU-Net's array layout.
type fileLayout struct {
	channels int
	spatial  [3]int // array order
	spacing  [3]float64
	geom     Geometry
}

// layoutOf derives the nnU-Net view of a NIfTI header, as SimpleITKIO does
// for 2-D, 3-D and 4-D files.
func layoutOf(h *nifti.Header) (fileLayout, error) {
	var l fileLayout
	shape := h.Shape()
	pix := h.Pixdim
	nd := len(shape)
	switch nd {
	case 2:
		l.channels = 1
		l.spatial = [3]int{1, shape[1], shape[0]}
		l.spacing = [3]float64{999 * math.Max(pix[1], pix[2]), pix[2], pix[1]}
	case 3, 4:
		l.channels = 1
		if nd == 4 {
			l.channels = shape[3]
		}
		l.spatial = [3]int{shape[2], shape[1], shape[0]}
		l.spacing = [3]float64{pix[3], pix[2], pix[1]}
	default:
		return l, fmt.Errorf("%d-D image with dims %v is not supported: want 2-D, 3-D or 4-D (channels last)", nd, shape)
	}
	g, err := finiteGeometry(h.Geometry)
	if err != nil {
		return l, err
	}
	sd := min(nd, 3)
	l.geom = Geometry{
		Dim:       sd,
		FileShape: shape[:sd],
		Affine:    h.BestAffine(),
		NIfTI:     g,
	}
	l.geom.SITK = sitkStuff(l.geom.Affine, pix, sd)
	return l, nil
}

// finiteGeometry checks that the geometry fields in use are finite (the
// sform when sform_code > 0, the quaternion and offsets when qform_code > 0)
// and returns a copy in which unused non-finite fields (pixdim beyond the
// spatial axes, an unused qform or sform) are 0, so it can be stored as JSON.
func finiteGeometry(g nifti.Geometry) (nifti.Geometry, error) {
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }
	clean := func(vs []float64, used bool, what string) error {
		for i, v := range vs {
			if !bad(v) {
				continue
			}
			if used {
				return fmt.Errorf("non-finite %s value %v; fix the file's geometry", what, v)
			}
			vs[i] = 0
		}
		return nil
	}
	q := []float64{g.QuaternB, g.QuaternC, g.QuaternD, g.QoffsetX, g.QoffsetY, g.QoffsetZ}
	if err := clean(q, g.QformCode > 0, "qform"); err != nil {
		return g, err
	}
	g.QuaternB, g.QuaternC, g.QuaternD, g.QoffsetX, g.QoffsetY, g.QoffsetZ = q[0], q[1], q[2], q[3], q[4], q[5]
	for _, row := range []*[4]float64{&g.SrowX, &g.SrowY, &g.SrowZ} {
		if err := clean(row[:], g.SformCode > 0, "sform"); err != nil {
			return g, err
		}
	}
	if err := clean(g.Pixdim[:4], true, "pixdim"); err != nil {
		return g, err
	}
	return g, clean(g.Pixdim[4:], false, "pixdim")
}

// sitkStuff converts a RAS affine into ITK spacing, origin and direction
// for a dim-dimensional image: spacing is pixdim, the direction columns are
// the affine columns divided by the spacing, and x and y rows are negated
// (RAS -> LPS).
func sitkStuff(a nifti.Affine, pix [8]float64, dim int) SITKStuff {
	s := SITKStuff{
		Spacing:   make([]float64, dim),
		Origin:    make([]float64, dim),
		Direction: make([]float64, dim*dim),
	}
	flip := [3]float64{-1, -1, 1}
	for i := 0; i < dim; i++ {
		s.Spacing[i] = pix[i+1]
		s.Origin[i] = flip[i] * a[i][3]
		for j := 0; j < dim; j++ {
			s.Direction[i*dim+j] = flip[i] * (a[i][j] / pix[j+1])
		}
	}
	return s
}

// ReadImages reads the channel files of one case, in the given order, into
// one Image. All files must have the same spatial shape and (allclose)
// spacing; differing origin or direction are accepted, as in nnU-Net.
func ReadImages(paths []string) (*Image, error) {
	return ReadImagesInto(paths, nil)
}

// ReadImagesInto is ReadImages that decodes the voxels into buf's storage
// when it is large enough (Image.Data then shares it), so that callers
// reading many cases can reuse one buffer.
func ReadImagesInto(paths []string, buf []float32) (*Image, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("read images: no files given")
	}
	readers := make([]*nifti.Reader, 0, len(paths))
	defer func() {
		for _, r := range readers {
			r.Close()
		}
	}()
	layouts := make([]fileLayout, len(paths))
	channels := 0
	for i, p := range paths {
		if !isNIfTI(p) {
			return nil, fmt.Errorf("read image %s: unsupported file type; only NIfTI (.nii, .nii.gz) is supported", p)
		}
		r, err := nifti.Open(p)
		if err != nil {
			return nil, err
		}
		readers = append(readers, r)
		l, err := layoutOf(r.Header)
		if err != nil {
			return nil, fmt.Errorf("read image %s: %w", p, err)
		}
		if i > 0 {
			if l.spatial != layouts[0].spatial {
				return nil, fmt.Errorf("read images: shape mismatch between channel files: %s has %v, %s has %v (array order z,y,x)",
					paths[0], layouts[0].spatial, p, l.spatial)
			}
			if !allclose(l.spacing[:], layouts[0].spacing[:]) {
				return nil, fmt.Errorf("read images: spacing mismatch between channel files: %s has %v, %s has %v",
					paths[0], layouts[0].spacing, p, l.spacing)
			}
		}
		layouts[i] = l
		channels += l.channels
	}
	first := layouts[0]
	im := &Image{
		Shape:    [4]int{channels, first.spatial[0], first.spatial[1], first.spatial[2]},
		Spacing:  first.spacing,
		Geometry: first.geom,
	}
	if n := channels * im.NumVoxels(); cap(buf) >= n {
		im.Data = buf[:n] // every voxel is overwritten below
	} else {
		im.Data = make([]float32, n)
	}
	// Decompress the channel files concurrently, each into its own part of
	// Data.
	errs := make([]error, len(readers))
	var wg sync.WaitGroup
	off := 0
	for i, r := range readers {
		dst := im.Data[off : off+r.NumVoxels()]
		off += len(dst)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.ReadFloat32(dst)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return im, nil
}

// isNIfTI reports whether path has a NIfTI file ending.
func isNIfTI(path string) bool {
	p := strings.ToLower(path)
	return strings.HasSuffix(p, ".nii") || strings.HasSuffix(p, ".nii.gz")
}

// ReadSeg reads a segmentation file as a one-channel Image (nnU-Net reads
// segmentations with the image reader, as float32).
func ReadSeg(path string) (*Image, error) {
	return ReadImagesInto([]string{path}, nil)
}

// ReadSegInto is ReadSeg that decodes into buf's storage when it is large
// enough (see ReadImagesInto).
func ReadSegInto(path string, buf []float32) (*Image, error) {
	return ReadImagesInto([]string{path}, buf)
}

// allclose is numpy's allclose with default tolerances (rtol 1e-5, atol 1e-8).
func allclose(a, b []float64) bool {
	for i := range a {
		if !(math.Abs(a[i]-b[i]) <= 1e-8+1e-5*math.Abs(b[i])) {
			return false
		}
	}
	return true
}

// Label is the set of integer types a segmentation may be held in.
type Label interface {
	uint8 | int8 | int16 | uint16 | int32 | uint32 | int64 | int
}

// WriteSeg writes a segmentation of shape (X, Y, Z) in array order (for a
// 2-D geometry (1, Y, X)) onto the grid described by geom, as nnU-Net's
// write_seg: stored as uint8 if the largest label is below 255, else as
// uint16. The header copies geom's NIfTI geometry; a name ending in .gz is
// gzip-compressed.
func WriteSeg[T Label](path string, seg []T, shape [3]int, geom Geometry) error {
	want := geom.arrayShape()
	if shape != want {
		return fmt.Errorf("write segmentation %s: shape %v does not match the geometry's %v", path, shape, want)
	}
	if len(seg) != shape[0]*shape[1]*shape[2] {
		return fmt.Errorf("write segmentation %s: %d values for shape %v", path, len(seg), shape)
	}
	lo, hi := int64(0), int64(0)
	for _, v := range seg {
		lo, hi = min(lo, int64(v)), max(hi, int64(v))
	}
	if lo < 0 || hi > math.MaxUint16 {
		return fmt.Errorf("write segmentation %s: labels span [%d, %d], want 0 to 65535", path, lo, hi)
	}
	h := segHeader(geom)
	if hi < 255 {
		out := make([]uint8, len(seg))
		for i, v := range seg {
			out[i] = uint8(v)
		}
		return nifti.WriteFile(path, h, out)
	}
	out := make([]uint16, len(seg))
	for i, v := range seg {
		out[i] = uint16(v)
	}
	return nifti.WriteFile(path, h, out)
}

// arrayShape returns the spatial shape in array order.
func (g Geometry) arrayShape() [3]int {
	if g.Dim == 2 && len(g.FileShape) == 2 {
		return [3]int{1, g.FileShape[1], g.FileShape[0]}
	}
	if len(g.FileShape) == 3 {
		return [3]int{g.FileShape[2], g.FileShape[1], g.FileShape[0]}
	}
	return [3]int{}
}

// segHeader builds the header of a label map on geom: NIfTI-1, the
// geometry fields copied unchanged, no scaling.
func segHeader(geom Geometry) *nifti.Header {
	h := &nifti.Header{Version: 1, Geometry: geom.NIfTI, SclSlope: 1}
	h.Dim[0] = int64(geom.Dim)
	for i, d := range geom.FileShape {
		h.Dim[i+1] = int64(d)
	}
	for i := geom.Dim + 1; i < 8; i++ {
		h.Dim[i] = 1
	}
	return h
}
