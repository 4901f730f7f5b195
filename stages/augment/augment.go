package augment

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/nnrunner/nnrunner/stages/dataloader"
)

// Output is one augmented batch in the layout the network trainer takes.
type Output struct {
	Size     int
	Channels int
	Patch    [3]int
	Data     []float32 // (Size, Channels, Patch...)
	Seg      []float32 // (Size, 1, Patch...), class labels as floats, −1 already mapped to 0
	Cases    []string
}

// NewOutput allocates an output batch.
func NewOutput(size, channels int, patch [3]int) *Output {
	n := patch[0] * patch[1] * patch[2]
	return &Output{Size: size, Channels: channels, Patch: patch,
		Data: make([]float32, size*channels*n), Seg: make([]float32, size*n), Cases: make([]string, size)}
}

// Augmenter applies the training transforms. It owns scratch buffers and
// must be used by one goroutine at a time.
type Augmenter struct {
	cfg   Config
	tmp   []float32 // one channel of a patch
	small []float32 // low-resolution copy of one channel
	seg   []int16   // one patch of labels
	acc   []float32 // per-label weights of one voxel
}

// New returns an augmenter for cfg.
func New(cfg Config) (*Augmenter, error) {
	for a, p := range cfg.Patch {
		if p < 1 {
			return nil, fmt.Errorf("augment: patch %v axis %d is not positive", cfg.Patch, a)
		}
	}
	for _, ax := range cfg.MirrorAxes {
		if ax < 0 || ax > 2 {
			return nil, fmt.Errorf("augment: mirror axis %d is not 0, 1 or 2", ax)
		}
	}
	n := cfg.Patch[0] * cfg.Patch[1] * cfg.Patch[2]
	return &Augmenter{cfg: cfg, tmp: make([]float32, n), small: make([]float32, n), seg: make([]int16, n)}, nil
}

// Config returns the augmenter's configuration.
func (a *Augmenter) Config() Config { return a.cfg }

// Train applies every training transform, in upstream's order, to each
// sample of in and writes the results into out (NewOutput with the
// network patch).
func (a *Augmenter) Train(rng *rand.Rand, in *dataloader.Batch, out *Output) error {
	if err := a.check(in, out); err != nil {
		return err
	}
	n := out.Patch[0] * out.Patch[1] * out.Patch[2]
	inN := in.Voxels()
	for j := range in.Size {
		out.Cases[j] = in.Cases[j]
		data := out.Data[j*out.Channels*n : (j+1)*out.Channels*n]
		a.spatial(rng, in.Data[j*in.Channels*inN:(j+1)*in.Channels*inN], in.Seg[j*inN:(j+1)*inN], in.Patch, data, a.seg)
		a.intensity(rng, data)
		a.mirror(rng, data, a.seg)
		a.finish(data, a.seg, out.Seg[j*n:(j+1)*n])
	}
	return nil
}

// Validation applies only the validation transforms (image masking and
// the −1 label removal); in must already have the network patch.
func (a *Augmenter) Validation(in *dataloader.Batch, out *Output) error {
	if err := a.check(in, out); err != nil {
		return err
	}
	if in.Patch != out.Patch {
		return fmt.Errorf("augment: validation batch patch %v differs from the network patch %v", in.Patch, out.Patch)
	}
	n := out.Voxels()
	copy(out.Data, in.Data)
	copy(out.Cases, in.Cases)
	for j := range in.Size {
		a.finish(out.Data[j*out.Channels*n:(j+1)*out.Channels*n], in.Seg[j*n:(j+1)*n], out.Seg[j*n:(j+1)*n])
	}
	return nil
}

// Voxels returns the number of voxels of one patch.
func (o *Output) Voxels() int { return o.Patch[0] * o.Patch[1] * o.Patch[2] }

func (a *Augmenter) check(in *dataloader.Batch, out *Output) error {
	if out.Patch != a.cfg.Patch || out.Size != in.Size || out.Channels != in.Channels {
		return fmt.Errorf("augment: output batch %d×%d×%v does not fit input %d×%d and patch %v",
			out.Size, out.Channels, out.Patch, in.Size, in.Channels, a.cfg.Patch)
	}
	if a.cfg.MaskChannel != nil && len(a.cfg.MaskChannel) != in.Channels {
		return fmt.Errorf("augment: %d use_mask_for_norm flags for %d channels", len(a.cfg.MaskChannel), in.Channels)
	}
	for i := range 3 {
		if in.Patch[i] < out.Patch[i] {
			return fmt.Errorf("augment: input patch %v is smaller than the network patch %v", in.Patch, out.Patch)
		}
	}
	return nil
}

// finish masks the image where seg < 0 for masked channels, then writes
// seg with −1 mapped to 0 as floats.
func (a *Augmenter) finish(data []float32, seg []int16, dst []float32) {
	n := len(seg)
	for c, m := range a.cfg.MaskChannel {
		if !m {
			continue
		}
		ch := data[c*n : (c+1)*n]
		for i, s := range seg {
			if s < 0 {
				ch[i] = 0
			}
		}
	}
	for i, s := range seg {
		dst[i] = float32(max(s, 0))
	}
}

// bgContrast is batchgeneratorsv2's BGContrast((lo, hi)) draw for lo < 1 < hi.
func bgContrast(rng *rand.Rand, lo, hi float64) float64 {
	if rng.Float64() < 0.5 {
		return uniform(rng, lo, 1)
	}
	return uniform(rng, 1, hi)
}

func uniform(rng *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }

// intensity applies transforms 3 to 9 to one sample (C, patch...).
func (a *Augmenter) intensity(rng *rand.Rand, data []float32) {
	n := len(a.tmp)
	nc := len(data) / n
	channel := func(c int) []float32 { return data[c*n : (c+1)*n] }
	if rng.Float64() < 0.1 { // Gaussian noise, one σ for all channels
		sigma := uniform(rng, 0, 0.1)
		for i := range data {
			data[i] += float32(rng.NormFloat64() * sigma)
		}
	}
	if rng.Float64() < 0.2 { // Gaussian blur
		for c := range nc {
			if rng.Float64() < 0.5 {
				var sig [3]float64
				for ax := range sig {
					sig[ax] = uniform(rng, 0.5, 1)
				}
				a.blur(channel(c), sig)
			}
		}
	}
	if rng.Float64() < 0.15 { // multiplicative brightness
		for c := range nc {
			m := float32(bgContrast(rng, 0.75, 1.25))
			for i, v := range channel(c) {
				channel(c)[i] = v * m
			}
		}
	}
	if rng.Float64() < 0.15 { // contrast
		for c := range nc {
			contrast(channel(c), bgContrast(rng, 0.75, 1.25))
		}
	}
	if rng.Float64() < 0.25 { // simulate low resolution
		for c := range nc {
			if rng.Float64() < 0.5 {
				a.lowRes(channel(c), uniform(rng, 0.5, 1))
			}
		}
	}
	if rng.Float64() < 0.1 { // inverted gamma
		for c := range nc {
			gamma(channel(c), bgContrast(rng, 0.7, 1.5), true)
		}
	}
	if rng.Float64() < 0.3 { // gamma
		for c := range nc {
			gamma(channel(c), bgContrast(rng, 0.7, 1.5), false)
		}
	}
}

// meanStd returns the mean and the unbiased standard deviation, in float64.
func meanStd(x []float32) (mean, std float64) {
	for _, v := range x {
		mean += float64(v)
	}
	mean /= float64(len(x))
	var ss float64
	for _, v := range x {
		d := float64(v) - mean
		ss += d * d
	}
	if len(x) > 1 {
		std = math.Sqrt(ss / float64(len(x)-1))
	}
	return mean, std
}

func minMax(x []float32) (lo, hi float32) {
	lo, hi = x[0], x[0]
	for _, v := range x[1:] {
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}

// contrast is x ← (x − mean)·m + mean clamped to the original range.
func contrast(x []float32, m float64) {
	mean, _ := meanStd(x)
	lo, hi := minMax(x)
	mu, f := float32(mean), float32(m)
	for i, v := range x {
		x[i] = min(max((v-mu)*f+mu, lo), hi)
	}
}

// gamma is batchgeneratorsv2's GammaTransform with retained statistics.
func gamma(x []float32, g float64, invert bool) {
	if invert {
		for i := range x {
			x[i] = -x[i]
		}
	}
	mean, std := meanStd(x)
	lo, hi := minMax(x)
	rng := float64(hi - lo)
	den := max(rng, 1e-7)
	for i, v := range x {
		x[i] = float32(math.Pow(float64(v-lo)/den, g)*rng + float64(lo))
	}
	mean2, std2 := meanStd(x)
	scale := std / max(std2, 1e-7)
	for i, v := range x {
		x[i] = float32((float64(v)-mean2)*scale + mean)
	}
	if invert {
		for i := range x {
			x[i] = -x[i]
		}
	}
}
