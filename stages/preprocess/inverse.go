package preprocess

import (
	"fmt"

	"github.com/nnrunner/nnrunner/stages/resample"
)

// ProbabilitiesToCropped resamples per-class network output of the
// preprocessed shape (classes, shape) to the cropped shape of p with the
// configuration's probability resampling (order 1, separate-z for
// anisotropic spacing), as upstream's export does.
func (c *Config) ProbabilitiesToCropped(probs []float32, classes int, shape [3]int, p *Properties, workers int) ([]float32, error) {
	n := shape[0] * shape[1] * shape[2]
	if classes < 1 || len(probs) != classes*n {
		return nil, fmt.Errorf("probabilities hold %d values, want %d classes x %v", len(probs), classes, shape)
	}
	orig := c.TransposedSpacing(p)
	cur := c.TargetSpacing(orig)
	out := p.ShapeAfterCropping
	m := out[0] * out[1] * out[2]
	res := make([]float32, classes*m)
	opt := c.Probabilities
	opt.Workers = workers
	for k := 0; k < classes; k++ {
		if err := resample.Data(res[k*m:(k+1)*m], resample.Shape(out), probs[k*n:(k+1)*n], resample.Shape(shape), cur, orig, opt); err != nil {
			return nil, fmt.Errorf("resample class %d: %w", k, err)
		}
	}
	return res, nil
}

// SegToCropped resamples a label map of the preprocessed shape to the
// cropped shape of p with the configuration's segmentation resampling.
func (c *Config) SegToCropped(seg []int16, shape [3]int, p *Properties, workers int) ([]int16, error) {
	if len(seg) != shape[0]*shape[1]*shape[2] {
		return nil, fmt.Errorf("label map holds %d values, shape %v needs %d", len(seg), shape, shape[0]*shape[1]*shape[2])
	}
	orig := c.TransposedSpacing(p)
	cur := c.TargetSpacing(orig)
	out := p.ShapeAfterCropping
	res := make([]int16, out[0]*out[1]*out[2])
	opt := c.Seg
	opt.Workers = workers
	if err := resample.Seg(res, resample.Shape(out), seg, resample.Shape(shape), cur, orig, opt); err != nil {
		return nil, err
	}
	return res, nil
}

// Revert places arrays on the cropped, transposed grid of p (channels x
// p.ShapeAfterCropping) back onto the original image grid: inserted at the
// crop box into a volume of p.ShapeBeforeCropping filled with fill, then
// transposed back. It returns the array and its spatial shape in the
// image's array order.
func Revert[T any](cropped []T, channels int, c *Config, p *Properties, fill T) ([]T, [3]int, error) {
	cs, full := p.ShapeAfterCropping, p.ShapeBeforeCropping
	cn := cs[0] * cs[1] * cs[2]
	if channels < 1 || len(cropped) != channels*cn {
		return nil, [3]int{}, fmt.Errorf("revert: %d values, want %d channels x %v", len(cropped), channels, cs)
	}
	for a := 0; a < 3; a++ {
		if p.BBox[a][1]-p.BBox[a][0] != cs[a] || p.BBox[a][0] < 0 || p.BBox[a][1] > full[a] {
			return nil, [3]int{}, fmt.Errorf("revert: bounding box %v does not fit cropped shape %v in %v", p.BBox, cs, full)
		}
	}
	fn := full[0] * full[1] * full[2]
	t := make([]T, channels*fn)
	for i := range t {
		t[i] = fill
	}
	b := p.BBox
	for ch := 0; ch < channels; ch++ {
		for x := 0; x < cs[0]; x++ {
			for y := 0; y < cs[1]; y++ {
				src := cropped[ch*cn+(x*cs[1]+y)*cs[2]:][:cs[2]]
				dst := t[ch*fn+((x+b[0][0])*full[1]+y+b[1][0])*full[2]+b[2][0]:][:cs[2]]
				copy(dst, src)
			}
		}
	}
	out, shape := transpose(t, channels, full, c.TransposeBackward)
	return out, shape, nil
}

// SegToOriginal brings a predicted label map of the preprocessed shape back
// onto the original image grid (resample, uncrop with 0, un-transpose).
func (c *Config) SegToOriginal(seg []int16, shape [3]int, p *Properties, workers int) ([]int16, [3]int, error) {
	cr, err := c.SegToCropped(seg, shape, p, workers)
	if err != nil {
		return nil, [3]int{}, err
	}
	return Revert(cr, 1, c, p, 0)
}

// ProbabilitiesToOriginal brings per-class network output of the
// preprocessed shape back onto the original image grid (resample, uncrop
// with 0, un-transpose); the result is (classes, original shape).
func (c *Config) ProbabilitiesToOriginal(probs []float32, classes int, shape [3]int, p *Properties, workers int) ([]float32, [3]int, error) {
	cr, err := c.ProbabilitiesToCropped(probs, classes, shape, p, workers)
	if err != nil {
		return nil, [3]int{}, err
	}
	return Revert(cr, classes, c, p, 0)
}
