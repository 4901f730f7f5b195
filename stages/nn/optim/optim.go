// Package optim holds nnU-Net's optimiser pieces, written plainly over the
// parameter slices: SGD with Nesterov momentum and L2 weight decay in
// PyTorch's formulation, global gradient-norm clipping and the poly
// learning-rate schedule (spec §10.1).
package optim

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// Upstream nnUNetTrainer defaults.
const (
	InitialLR    = 1e-2
	Momentum     = 0.99
	WeightDecay  = 3e-5
	MaxGradNorm  = 12.0
	PolyExponent = 0.9
)

// SGD is torch.optim.SGD(momentum=μ, nesterov=True, dampening=0,
// weight_decay=wd): per element, g ← grad + wd·p; b ← g on the first step,
// else b ← μ·b + g; p ← p − lr·(g + μ·b). Arithmetic is float32 like
// PyTorch's, so results match it to rounding.
type SGD struct {
	momentum, weightDecay float32
	bufs                  [][]float32 // momentum buffers, nil before the first step
}

// NewSGD returns an optimiser with the given momentum and weight decay.
func NewSGD(momentum, weightDecay float64) *SGD {
	return &SGD{momentum: float32(momentum), weightDecay: float32(weightDecay)}
}

// Step updates params in place from grads (same lengths, same order on
// every call) with learning rate lr.
func (o *SGD) Step(params, grads [][]float32, lr float64) error {
	if len(params) != len(grads) {
		return fmt.Errorf("sgd step: %d parameters but %d gradients", len(params), len(grads))
	}
	for i := range params {
		if len(params[i]) != len(grads[i]) {
			return fmt.Errorf("sgd step: parameter %d has %d values but its gradient %d", i, len(params[i]), len(grads[i]))
		}
	}
	first := o.bufs == nil
	if first {
		o.bufs = make([][]float32, len(params))
		for i := range params {
			o.bufs[i] = make([]float32, len(params[i]))
		}
	} else if len(o.bufs) != len(params) {
		return fmt.Errorf("sgd step: %d parameters, but the optimiser state has %d", len(params), len(o.bufs))
	}
	mu, wd, rate := o.momentum, o.weightDecay, float32(lr)
	forEachChunk(params, func(i, lo, hi int) {
		p, g, b := params[i][lo:hi], grads[i][lo:hi], o.bufs[i][lo:hi]
		for j := range p {
			gj := g[j] + wd*p[j]
			if first {
				b[j] = gj
			} else {
				b[j] = mu*b[j] + gj
			}
			p[j] -= rate * (gj + mu*b[j])
		}
	})
	return nil
}

// MomentumBuffers returns the live momentum buffers (nil before the first
// step), for checkpointing.
func (o *SGD) MomentumBuffers() [][]float32 { return o.bufs }

// SetMomentumBuffers replaces the optimiser state, e.g. from a checkpoint.
// The slices are used, not copied; nil resets to "no step taken yet".
func (o *SGD) SetMomentumBuffers(bufs [][]float32) { o.bufs = bufs }

// ClipGradNorm is torch.nn.utils.clip_grad_norm_(params, maxNorm): it
// computes the global L2 norm of all gradients and, when
// maxNorm/(norm+1e-6) < 1, scales every gradient by that factor. It returns
// the norm before clipping. The sum of squares is accumulated in float64,
// per parameter then in parameter order, so the result is deterministic.
func ClipGradNorm(grads [][]float32, maxNorm float64) float64 {
	sums := make([]float64, len(grads))
	parallel(len(grads), func(i int) {
		var s float64
		for _, v := range grads[i] {
			s += float64(v) * float64(v)
		}
		sums[i] = s
	})
	var total float64
	for _, s := range sums {
		total += s
	}
	norm := math.Sqrt(total)
	coef := maxNorm / (norm + 1e-6)
	if coef < 1 {
		c := float32(coef)
		forEachChunk(grads, func(i, lo, hi int) {
			for j := range grads[i][lo:hi] {
				grads[i][lo+j] *= c
			}
		})
	}
	return norm
}

// PolyLR is nnU-Net's PolyLRScheduler: initial·(1 − epoch/maxEpochs)^exponent.
func PolyLR(initial float64, epoch, maxEpochs int, exponent float64) float64 {
	return initial * math.Pow(1-float64(epoch)/float64(maxEpochs), exponent)
}

// chunk is the element count one goroutine handles at a time; element-wise
// updates are independent, so the split does not affect the result.
const chunk = 1 << 16

// forEachChunk calls body(i, lo, hi) over chunks covering every slice.
func forEachChunk(s [][]float32, body func(i, lo, hi int)) {
	type piece struct{ i, lo, hi int }
	var pieces []piece
	for i := range s {
		for lo := 0; lo < len(s[i]); lo += chunk {
			pieces = append(pieces, piece{i, lo, min(lo+chunk, len(s[i]))})
		}
	}
	parallel(len(pieces), func(k int) { body(pieces[k].i, pieces[k].lo, pieces[k].hi) })
}

// parallel runs body(0..n-1) on up to GOMAXPROCS goroutines.
func parallel(n int, body func(k int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for k := 0; k < n; k++ {
			body(k)
		}
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for k := w; k < n; k += workers {
				body(k)
			}
		})
	}
	wg.Wait()
}
