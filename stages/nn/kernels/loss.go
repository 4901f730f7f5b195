package kernels

import (
	"fmt"
	"math"
)

// lossChunk is the number of voxels per partial sum of the loss. It is a
// constant, so the float64 sums are combined in the same order on any machine.
const lossChunk = 4096

// DiceCE configures nnU-Net's DC_and_CE_loss for label (not region) training:
// cross-entropy (mean over annotated voxels) plus the negative soft Dice of
// MemoryEfficientSoftDiceLoss over the softmax of the logits, background
// excluded (do_bg=False), both weighted 1.
type DiceCE struct {
	BatchDice      bool    // sum the Dice terms over the batch too (plans' batch_dice)
	Smooth         float64 // added to the Dice numerator and denominator; 1e-5 upstream
	HasIgnoreLabel bool    // whether IgnoreLabel marks unannotated voxels
	IgnoreLabel    int     // label excluded from both terms when HasIgnoreLabel
}

// NewDiceCE returns nnU-Net's loss configuration: smooth 1e-5, no ignore
// label, and batchDice from the plans.
func NewDiceCE(batchDice bool) DiceCE {
	return DiceCE{BatchDice: batchDice, Smooth: 1e-5}
}

// Loss is the value of a DiceCE loss and its two terms.
type Loss struct {
	Total float64 // CE + Dice
	CE    float64 // mean cross-entropy over annotated voxels; 0 when there are none
	Dice  float64 // −mean soft Dice over foreground classes (and samples unless batch Dice)
}

// DiceCELoss computes the loss of logits, shaped (n, c, spatial), against
// target, (n, 1, spatial) holding integer class labels as nnU-Net's float
// segmentation does, and, unless dlogits is nil, writes gradScale times the
// gradient of the total loss with respect to the logits into dlogits (which
// may alias logits). Sums
// are accumulated in float64 over fixed chunks. It returns an error naming
// the first voxel whose label is not a class index nor the ignore label.
func DiceCELoss[T Float](cfg DiceCE, logits, target []T, n, c, spatial int, gradScale T, dlogits []T) (Loss, error) {
	if n < 1 || c < 2 || spatial < 1 {
		return Loss{}, fmt.Errorf("dice+ce loss: batch %d, classes %d, voxels %d: need at least 1 sample, 2 classes and 1 voxel", n, c, spatial)
	}
	mustLen("loss logits", logits, n*c*spatial)
	mustLen("loss target", target, n*spatial)
	if dlogits != nil {
		mustLen("loss logits gradient", dlogits, n*c*spatial)
	}
	cps := (spatial + lossChunk - 1) / lossChunk
	chunks := n * cps
	// Per chunk: I, P, G for every class, then the CE sum, the annotated
	// count and the index+1 of the first bad label.
	stride := 3*c + 3
	part := make([]float64, chunks*stride)
	parallelFor(chunks, 1, func(lo, hi int) {
		z := make([]float64, c)
		for ch := lo; ch < hi; ch++ {
			lossPass1(cfg, logits, target, c, spatial, ch/cps, ch%cps, z, dlogits, part[ch*stride:(ch+1)*stride])
		}
	})
	for ch := range chunks {
		if bad := part[ch*stride+3*c+2]; bad != 0 {
			b := ch / cps
			v := ch%cps*lossChunk + int(bad) - 1
			return Loss{}, fmt.Errorf("dice+ce loss: sample %d voxel %d: label %v is not a class in [0, %d) nor the ignore label",
				b, v, target[b*spatial+v], c)
		}
	}

	groups := n
	if cfg.BatchDice {
		groups = 1
	}
	sums := make([]float64, groups*3*c) // I, P, G per group and class
	var ceSum, count float64
	for ch := range chunks {
		p := part[ch*stride : (ch+1)*stride]
		g := 0
		if !cfg.BatchDice {
			g = ch / cps
		}
		for k := range 3 * c {
			sums[g*3*c+k] += p[k]
		}
		ceSum += p[3*c]
		count += p[3*c+1]
	}
	var loss Loss
	if count > 0 {
		loss.CE = ceSum / count
	}
	// Dice coefficients and, per group and class, the gradient factors
	// dL/dp = −(A·y − B)·mask / K.
	terms := float64(groups * (c - 1))
	coef := make([]float64, groups*2*c)
	var dcSum float64
	for g := range groups {
		s := sums[g*3*c : (g+1)*3*c]
		for k := 1; k < c; k++ {
			in, pr, gt := s[k], s[c+k], s[2*c+k]
			den := gt + pr + cfg.Smooth
			clipped := den < 1e-8
			den = max(den, 1e-8)
			num := 2*in + cfg.Smooth
			dcSum += num / den
			coef[g*2*c+k] = 2 / den / terms
			if !clipped {
				coef[g*2*c+c+k] = num / (den * den) / terms
			}
		}
	}
	loss.Dice = -dcSum / terms
	loss.Total = loss.CE + loss.Dice
	if dlogits == nil {
		return loss, nil
	}
	ceScale := 0.0
	if count > 0 {
		ceScale = 1 / count
	}
	parallelFor(chunks, 1, func(lo, hi int) {
		gp := make([]float64, 2*c)
		for ch := lo; ch < hi; ch++ {
			b := ch / cps
			g := 0
			if !cfg.BatchDice {
				g = b
			}
			lossPass2(cfg, target, c, spatial, b, ch%cps, coef[g*2*c:(g+1)*2*c], ceScale, float64(gradScale), gp, dlogits)
		}
	})
	return loss, nil
}

// label returns the class held by target value t and whether the voxel is
// annotated; ok is false for a value that is neither a class nor ignored.
func label[T Float](cfg *DiceCE, t T, c int) (cls int, annotated, ok bool) {
	f := float64(t)
	cls = int(f)
	if float64(cls) != f {
		return 0, false, false
	}
	if cfg.HasIgnoreLabel && cls == cfg.IgnoreLabel {
		return -1, false, true
	}
	return cls, true, cls >= 0 && cls < c
}

// lossPass1 computes the softmax of chunk j of sample b (stored in dlogits
// unless nil) and its partial sums into part.
func lossPass1[T Float](cfg DiceCE, logits, target []T, c, spatial, b, j int, z []float64, dlogits []T, part []float64) {
	v0, v1 := j*lossChunk, min(spatial, (j+1)*lossChunk)
	base := b * c * spatial
	in, pr, gt := part[:c], part[c:2*c], part[2*c:3*c]
	for v := v0; v < v1; v++ {
		cls, annotated, ok := label(&cfg, target[b*spatial+v], c)
		if !ok {
			part[3*c+2] = float64(v - v0 + 1)
			return
		}
		zmax := math.Inf(-1)
		for k := range c {
			z[k] = float64(logits[base+k*spatial+v])
			zmax = max(zmax, z[k])
		}
		var se float64
		for k := range c {
			z[k] = math.Exp(z[k] - zmax)
			se += z[k]
		}
		if annotated {
			// −log p_cls = log Σexp − (z_cls − zmax)
			part[3*c] += math.Log(se) - (float64(logits[base+cls*spatial+v]) - zmax)
			part[3*c+1]++
			gt[cls]++
		}
		inv := 1 / se
		for k := range c {
			p := z[k] * inv
			if dlogits != nil {
				dlogits[base+k*spatial+v] = T(p)
			}
			if annotated {
				pr[k] += p
				if k == cls {
					in[k] += p
				}
			}
		}
	}
}

// lossPass2 turns the probabilities in dlogits into the logits gradient for
// chunk j of sample b. coef holds A (first c) and B (next c) of the sample's
// Dice group; gp is scratch of 2·c.
func lossPass2[T Float](cfg DiceCE, target []T, c, spatial, b, j int, coef []float64, ceScale, scale float64, gp []float64, dlogits []T) {
	v0, v1 := j*lossChunk, min(spatial, (j+1)*lossChunk)
	base := b * c * spatial
	p, g := gp[:c], gp[c:]
	for v := v0; v < v1; v++ {
		cls, annotated, _ := label(&cfg, target[b*spatial+v], c)
		if !annotated {
			for k := range c {
				dlogits[base+k*spatial+v] = 0
			}
			continue
		}
		var dot float64
		for k := range c {
			p[k] = float64(dlogits[base+k*spatial+v])
			g[k] = 0
			if k > 0 {
				g[k] = coef[c+k]
				if k == cls {
					g[k] -= coef[k]
				}
			}
			dot += p[k] * g[k]
		}
		for k := range c {
			d := p[k]*(g[k]-dot) + ceScale*p[k]
			if k == cls {
				d -= ceScale
			}
			dlogits[base+k*spatial+v] = T(d * scale)
		}
	}
}
