package kernels

import (
	"math"
	"strings"
	"testing"
)

// naiveDiceCE follows nnU-Net's DC_and_CE_loss literally: softmax, one-hot
// target, per-(sample, class) sums without background, CE mean over
// annotated voxels.
func naiveDiceCE(cfg DiceCE, logits, target []float64, n, c, s int) Loss {
	var ce, count float64
	in := make([]float64, n*c)
	pr := make([]float64, n*c)
	gt := make([]float64, n*c)
	for b := range n {
		for v := range s {
			cls := int(target[b*s+v])
			mask := 1.0
			if cfg.HasIgnoreLabel && cls == cfg.IgnoreLabel {
				mask, cls = 0, 0
			}
			var se float64
			for k := range c {
				se += math.Exp(logits[(b*c+k)*s+v])
			}
			for k := range c {
				p := math.Exp(logits[(b*c+k)*s+v]) / se
				y := 0.0
				if k == cls {
					y = 1
				}
				in[b*c+k] += p * y * mask
				pr[b*c+k] += p * mask
				gt[b*c+k] += y * mask
				if y == 1 && mask == 1 {
					ce -= math.Log(p)
					count++
				}
			}
		}
	}
	if cfg.BatchDice {
		for b := 1; b < n; b++ {
			for k := range c {
				in[k] += in[b*c+k]
				pr[k] += pr[b*c+k]
				gt[k] += gt[b*c+k]
			}
		}
		n = 1
	}
	var dc float64
	for b := range n {
		for k := 1; k < c; k++ {
			dc += (2*in[b*c+k] + cfg.Smooth) / math.Max(gt[b*c+k]+pr[b*c+k]+cfg.Smooth, 1e-8)
		}
	}
	var l Loss
	if count > 0 {
		l.CE = ce / count
	}
	l.Dice = -dc / float64(n*(c-1))
	l.Total = l.CE + l.Dice
	return l
}

var lossCases = []struct {
	name    string
	cfg     DiceCE
	n, c, s int
}{
	{"2 classes", NewDiceCE(false), 2, 2, 30},
	{"3 classes", NewDiceCE(false), 2, 3, 27},
	{"batch dice", NewDiceCE(true), 3, 3, 20},
	{"ignore label", DiceCE{Smooth: 1e-5, HasIgnoreLabel: true, IgnoreLabel: 3}, 2, 3, 25},
	{"several chunks", NewDiceCE(false), 2, 4, 2*lossChunk + 17},
}

// lossInputs returns logits and labels in [0, c) (or the ignore label).
func lossInputs(cfg DiceCE, n, c, s int) (logits, target []float64) {
	logits = randSlice(1, n*c*s)
	for i := range logits {
		logits[i] *= 3
	}
	u := randSlice(2, n*s)
	target = make([]float64, n*s)
	for i, v := range u {
		target[i] = math.Floor((v + 1) / 2 * float64(c))
		if cfg.HasIgnoreLabel && i%5 == 0 {
			target[i] = float64(cfg.IgnoreLabel)
		}
	}
	return logits, target
}

func TestDiceCEGradients(t *testing.T) {
	for _, tc := range lossCases {
		t.Run(tc.name, func(t *testing.T) {
			logits, target := lossInputs(tc.cfg, tc.n, tc.c, tc.s)
			loss := func() float64 {
				l, err := DiceCELoss(tc.cfg, logits, target, tc.n, tc.c, tc.s, 1, nil)
				if err != nil {
					t.Fatal(err)
				}
				return l.Total
			}
			d := make([]float64, len(logits))
			if _, err := DiceCELoss(tc.cfg, logits, target, tc.n, tc.c, tc.s, 1, d); err != nil {
				t.Fatal(err)
			}
			checkGrad(t, "dlogits", logits, d, loss)

			// In place: dlogits aliasing logits gives the same gradient.
			inPlace := append([]float64(nil), logits...)
			if _, err := DiceCELoss(tc.cfg, inPlace, target, tc.n, tc.c, tc.s, 1, inPlace); err != nil {
				t.Fatal(err)
			}
			for i := range d {
				if inPlace[i] != d[i] {
					t.Fatalf("in place: dlogits[%d] = %v, want %v", i, inPlace[i], d[i])
				}
			}

			// gradScale scales the gradient.
			d2 := make([]float64, len(logits))
			if _, err := DiceCELoss(tc.cfg, logits, target, tc.n, tc.c, tc.s, 0.25, d2); err != nil {
				t.Fatal(err)
			}
			for i := range d {
				if math.Abs(d2[i]-0.25*d[i]) > 1e-15 {
					t.Fatalf("gradScale 0.25: dlogits[%d] = %v, want %v", i, d2[i], 0.25*d[i])
				}
			}
		})
	}
}

func TestDiceCEMatchesNaive(t *testing.T) {
	for _, tc := range lossCases {
		t.Run(tc.name, func(t *testing.T) {
			logits, target := lossInputs(tc.cfg, tc.n, tc.c, tc.s)
			want := naiveDiceCE(tc.cfg, logits, target, tc.n, tc.c, tc.s)
			got, err := DiceCELoss(tc.cfg, to32(logits), to32(target), tc.n, tc.c, tc.s, 1, make([]float32, len(logits)))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range []struct {
				what      string
				got, want float64
			}{{"total", got.Total, want.Total}, {"ce", got.CE, want.CE}, {"dice", got.Dice, want.Dice}} {
				if math.Abs(p.got-p.want) > 1e-6 {
					t.Errorf("%s = %.9f, want %.9f", p.what, p.got, p.want)
				}
			}
		})
	}
}

func TestDiceCEKnownValues(t *testing.T) {
	// Uniform logits over 4 classes: CE = log 4. Perfect, confident logits:
	// CE ≈ 0 and every present class has Dice ≈ 1.
	const n, c, s = 1, 4, 8
	target := []float32{0, 1, 2, 3, 3, 2, 1, 0}
	l, err := DiceCELoss(NewDiceCE(false), make([]float32, n*c*s), target, n, c, s, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(l.CE-math.Log(4)) > 1e-6 {
		t.Errorf("uniform CE = %v, want log 4 = %v", l.CE, math.Log(4))
	}
	// Each foreground class: I = 2·0.25, P = 8·0.25, G = 2 → dc = (1+ε)/(4+ε).
	if want := -(1 + 1e-5) / (4 + 1e-5); math.Abs(l.Dice-want) > 1e-7 {
		t.Errorf("uniform Dice = %v, want %v", l.Dice, want)
	}
	logits := make([]float32, n*c*s)
	for v, k := range target {
		logits[int(k)*s+v] = 40
	}
	l, err = DiceCELoss(NewDiceCE(false), logits, target, n, c, s, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.CE > 1e-6 || math.Abs(l.Dice+1) > 1e-6 {
		t.Errorf("perfect prediction: CE %v, Dice %v; want 0 and -1", l.CE, l.Dice)
	}
}

func TestDiceCEAllIgnored(t *testing.T) {
	cfg := DiceCE{Smooth: 1e-5, HasIgnoreLabel: true, IgnoreLabel: 2}
	target := []float32{2, 2, 2}
	d := make([]float32, 2*3)
	l, err := DiceCELoss(cfg, []float32{1, 2, 3, 4, 5, 6}, target, 1, 2, 3, 1, d)
	if err != nil {
		t.Fatal(err)
	}
	// No annotated voxel: CE is 0, Dice is −smooth/smooth = −1, gradient 0.
	if l.CE != 0 || math.Abs(l.Dice+1) > 1e-12 {
		t.Errorf("loss = %+v, want CE 0 and Dice -1", l)
	}
	for i, v := range d {
		if v != 0 {
			t.Fatalf("dlogits[%d] = %v, want 0", i, v)
		}
	}
}

func TestDiceCEBadLabel(t *testing.T) {
	tests := []struct {
		name  string
		label float32
	}{{"too large", 3}, {"negative", -1}, {"fractional", 0.5}, {"nan", float32(math.NaN())}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := []float32{0, 1, tc.label, 2}
			_, err := DiceCELoss(NewDiceCE(false), make([]float32, 3*4), target, 1, 3, 4, 1, nil)
			if err == nil || !strings.Contains(err.Error(), "voxel 2") {
				t.Fatalf("err = %v, want one naming voxel 2", err)
			}
		})
	}
}

func TestDiceCEDeterministic(t *testing.T) {
	cfg := NewDiceCE(false)
	logits, target := lossInputs(cfg, 2, 3, 3*lossChunk+5)
	l32, t32 := to32(logits), to32(target)
	run := func(procs int) (Loss, []float32) {
		d := make([]float32, len(l32))
		var l Loss
		withProcs(procs, func() {
			var err error
			if l, err = DiceCELoss(cfg, l32, t32, 2, 3, 3*lossChunk+5, 1, d); err != nil {
				t.Fatal(err)
			}
		})
		return l, d
	}
	a, da := run(1)
	b, db := run(3)
	if a != b {
		t.Fatalf("loss %+v with 1 thread, %+v with 3", a, b)
	}
	checkSame(t, "dlogits", da, db)
}
