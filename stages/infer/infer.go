// Package infer is nnU-Net's sliding-window inference (spec §11): tiles
// with step 0.5 of the patch, a Gaussian importance map (σ = patch/8) to
// weight overlapping tiles, and test-time mirroring over every non-empty
// subset of the mirror axes. It knows nothing about the network: the caller
// passes a function that turns one tile into logits.
package infer

import (
	"context"
	"fmt"
	"math"

	"github.com/nnrunner/nnrunner/stages/augment"
)

// Upstream predictor defaults.
const (
	StepSize   = 0.5
	SigmaScale = 1. / 8
	// GaussianPeak is the importance map's maximum (value_scaling_factor).
	GaussianPeak = 10
)

// TileFunc computes the logits of one tile: x is (C, patch...), dst is
// (K, patch...), both C order.
type TileFunc func(x, dst []float32) error

// Options configures a sliding-window prediction.
type Options struct {
	Patch      [3]int
	Classes    int     // K, logits channels
	StepSize   float64 // fraction of the patch between tile starts; StepSize when 0
	Gaussian   bool    // weight tiles with the Gaussian importance map (else uniformly)
	MirrorAxes []int   // test-time mirroring axes; nil disables it
}

// Steps is compute_steps_for_sliding_window for one axis: the tile starts
// covering size with tiles of patch, at most step·patch apart.
func Steps(size, patch int, step float64) []int {
	if size <= patch {
		return []int{0}
	}
	target := float64(patch) * step
	n := int(math.Ceil(float64(size-patch)/target)) + 1
	actual := float64(size-patch) / float64(n-1)
	out := make([]int, n)
	for i := range out {
		out[i] = int(math.RoundToEven(actual * float64(i)))
	}
	return out
}

// GaussianMap is upstream's compute_gaussian: a unit impulse at patch//2
// blurred with σ = patch·sigmaScale per axis (scipy gaussian_filter,
// constant mode, truncate 4), scaled to a maximum of GaussianPeak, rounded
// to float16, zeros replaced by the smallest nonzero value.
func GaussianMap(patch [3]int, sigmaScale float64) []float32 {
	var w [3][]float64
	for ax, p := range patch {
		sd := float64(p) * sigmaScale
		r := int(4*sd + 0.5)
		k := make([]float64, 2*r+1)
		var sum float64
		for i := range k {
			x := float64(i - r)
			k[i] = math.Exp(-0.5 / (sd * sd) * (x * x)) // scipy's _gaussian_kernel1d
			sum += k[i]
		}
		w[ax] = make([]float64, p)
		c := p / 2
		for i := range p {
			if d := i - c; d >= -r && d <= r {
				w[ax][i] = k[d+r] / sum
			}
		}
	}
	peak := w[0][patch[0]/2] * w[1][patch[1]/2] * w[2][patch[2]/2]
	out := make([]float32, patch[0]*patch[1]*patch[2])
	minNZ := float32(math.Inf(1))
	o := 0
	for x := range patch[0] {
		for y := range patch[1] {
			for z := range patch[2] {
				v := float16(w[0][x] * w[1][y] * w[2][z] / (peak / GaussianPeak))
				out[o] = v
				if v > 0 {
					minNZ = min(minNZ, v)
				}
				o++
			}
		}
	}
	for i, v := range out {
		if v == 0 {
			out[i] = minNZ
		}
	}
	return out
}

// float16 rounds a non-negative value to the nearest IEEE half-precision
// number (ties to even), returned as float32; values above the half range
// become +Inf.
func float16(v float64) float32 {
	if v == 0 || math.IsNaN(v) {
		return float32(v)
	}
	e := math.Floor(math.Log2(v))
	if e < -14 {
		e = -14 // subnormal spacing 2^-24
	}
	step := math.Pow(2, e-10)
	r := math.RoundToEven(v/step) * step
	if r > 65504 {
		return float32(math.Inf(1))
	}
	return float32(r)
}

// SlidingWindow predicts the logits of data, shaped (C, X, Y, Z), and
// returns them shaped (K, X, Y, Z). Images smaller than the patch are
// padded with zeros symmetrically (below = diff//2) and cropped back.
func SlidingWindow(ctx context.Context, data []float32, shape [4]int, opt Options, tile TileFunc) ([]float32, error) {
	C, K, P := shape[0], opt.Classes, opt.Patch
	if len(data) != C*shape[1]*shape[2]*shape[3] {
		return nil, fmt.Errorf("sliding window: %d values for shape %v", len(data), shape)
	}
	if K < 1 || P[0] < 1 || P[1] < 1 || P[2] < 1 {
		return nil, fmt.Errorf("sliding window: %d classes, patch %v", K, P)
	}
	step := opt.StepSize
	if step == 0 {
		step = StepSize
	}
	if step <= 0 || step > 1 {
		return nil, fmt.Errorf("sliding window: step size %v must be in (0, 1]", step)
	}
	// Padded geometry.
	var S, below [3]int
	for a := range 3 {
		S[a] = max(shape[a+1], P[a])
		below[a] = (S[a] - shape[a+1]) / 2
	}
	nS := S[0] * S[1] * S[2]
	padded := data
	if S != [3]int{shape[1], shape[2], shape[3]} {
		padded = make([]float32, C*nS)
		inN := shape[1] * shape[2] * shape[3]
		for c := range C {
			for x := range shape[1] {
				for y := range shape[2] {
					src := c*inN + (x*shape[2]+y)*shape[3]
					dst := c*nS + ((x+below[0])*S[1]+y+below[1])*S[2] + below[2]
					copy(padded[dst:dst+shape[3]], data[src:src+shape[3]])
				}
			}
		}
	}
	var weight []float32
	if opt.Gaussian {
		weight = GaussianMap(P, SigmaScale)
	}
	nP := P[0] * P[1] * P[2]
	acc := make([]float32, K*nS)
	norm := make([]float32, nS)
	x := make([]float32, C*nP)
	xm := make([]float32, C*nP)
	logits := make([]float32, K*nP)
	sum := make([]float32, K*nP)
	subsets := mirrorSubsets(opt.MirrorAxes)
	steps := [3][]int{Steps(S[0], P[0], step), Steps(S[1], P[1], step), Steps(S[2], P[2], step)}
	for _, sx := range steps[0] {
		for _, sy := range steps[1] {
			for _, sz := range steps[2] {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				start := [3]int{sx, sy, sz}
				gather(padded, C, S, start, P, x)
				clear(sum)
				for _, axes := range subsets {
					copy(xm, x)
					for _, ax := range axes {
						flipChannels(xm, C, P, ax)
					}
					if err := tile(xm, logits); err != nil {
						return nil, fmt.Errorf("sliding window tile at %v: %w", start, err)
					}
					for _, ax := range axes {
						flipChannels(logits, K, P, ax)
					}
					for i, v := range logits {
						sum[i] += v
					}
				}
				inv := 1 / float32(len(subsets))
				scatter(sum, inv, weight, acc, norm, K, S, start, P)
			}
		}
	}
	out := make([]float32, K*shape[1]*shape[2]*shape[3])
	inN := shape[1] * shape[2] * shape[3]
	for k := range K {
		for xi := range shape[1] {
			for yi := range shape[2] {
				for zi := range shape[3] {
					p := ((xi+below[0])*S[1]+yi+below[1])*S[2] + zi + below[2]
					out[k*inN+(xi*shape[2]+yi)*shape[3]+zi] = acc[k*nS+p] / norm[p]
				}
			}
		}
	}
	return out, nil
}

// mirrorSubsets lists the identity and every non-empty subset of axes.
func mirrorSubsets(axes []int) [][]int {
	out := [][]int{nil}
	for mask := 1; mask < 1<<len(axes); mask++ {
		var s []int
		for i, ax := range axes {
			if mask>>i&1 == 1 {
				s = append(s, ax)
			}
		}
		out = append(out, s)
	}
	return out
}

func flipChannels(v []float32, c int, p [3]int, axis int) {
	n := p[0] * p[1] * p[2]
	for ch := range c {
		augment.Flip(v[ch*n:(ch+1)*n], p, axis)
	}
}

// gather copies the tile at start out of vol (c, S...).
func gather(vol []float32, c int, S, start, P [3]int, dst []float32) {
	nS, nP := S[0]*S[1]*S[2], P[0]*P[1]*P[2]
	for ch := range c {
		for x := range P[0] {
			for y := range P[1] {
				src := ch*nS + ((x+start[0])*S[1]+y+start[1])*S[2] + start[2]
				d := ch*nP + (x*P[1]+y)*P[2]
				copy(dst[d:d+P[2]], vol[src:src+P[2]])
			}
		}
	}
}

// scatter adds scale·logits·weight into acc and weight into norm.
func scatter(logits []float32, scale float32, weight, acc, norm []float32, k int, S, start, P [3]int) {
	nS, nP := S[0]*S[1]*S[2], P[0]*P[1]*P[2]
	for x := range P[0] {
		for y := range P[1] {
			for z := range P[2] {
				t := (x*P[1]+y)*P[2] + z
				d := ((x+start[0])*S[1]+y+start[1])*S[2] + z + start[2]
				w := float32(1)
				if weight != nil {
					w = weight[t]
				}
				norm[d] += w
				for ch := range k {
					acc[ch*nS+d] += logits[ch*nP+t] * scale * w
				}
			}
		}
	}
}

// Argmax returns the class of the largest logit per voxel of (K, voxels...)
// logits (ties to the lowest class).
func Argmax(logits []float32, k int) []int16 {
	n := len(logits) / k
	out := make([]int16, n)
	for i := range out {
		best := logits[i]
		for c := 1; c < k; c++ {
			if v := logits[c*n+i]; v > best {
				best, out[i] = v, int16(c)
			}
		}
	}
	return out
}
