package optim

import (
	"math"
	"testing"
)

// TestSGDNesterov checks three steps against the PyTorch update rule
// written out in float64 for one parameter element.
func TestSGDNesterov(t *testing.T) {
	const mu, wd = 0.99, 3e-5
	p := [][]float32{{1.5, -2}, {0.25}}
	grads := [][][]float32{
		{{0.1, 0.2}, {-0.3}},
		{{-0.5, 0.05}, {0.7}},
		{{0.2, 0.2}, {0.0}},
	}
	lrs := []float64{0.01, 0.009, 0.008}
	// Reference in float64.
	ref := [][]float64{{1.5, -2}, {0.25}}
	buf := [][]float64{{0, 0}, {0}}
	o := NewSGD(mu, wd)
	for s, g := range grads {
		if err := o.Step(p, g, lrs[s]); err != nil {
			t.Fatal(err)
		}
		for i := range ref {
			for j := range ref[i] {
				gj := float64(g[i][j]) + wd*ref[i][j]
				if s == 0 {
					buf[i][j] = gj
				} else {
					buf[i][j] = mu*buf[i][j] + gj
				}
				ref[i][j] -= lrs[s] * (gj + mu*buf[i][j])
			}
		}
	}
	for i := range ref {
		for j := range ref[i] {
			if d := math.Abs(float64(p[i][j]) - ref[i][j]); d > 1e-6 {
				t.Errorf("param[%d][%d] = %v, want %v", i, j, p[i][j], ref[i][j])
			}
		}
	}
	if err := o.Step(p, grads[0][:1], 0.01); err == nil {
		t.Error("step with a missing gradient: no error")
	}
}

func TestClipGradNorm(t *testing.T) {
	tests := []struct {
		name     string
		grads    [][]float32
		maxNorm  float64
		wantNorm float64
		want     [][]float32
	}{
		{"below", [][]float32{{3}, {4}}, 12, 5, [][]float32{{3}, {4}}},
		{"above", [][]float32{{30}, {40, 0}}, 12, 50, [][]float32{{7.2}, {9.6, 0}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			norm := ClipGradNorm(tc.grads, tc.maxNorm)
			if math.Abs(norm-tc.wantNorm) > 1e-9 {
				t.Errorf("norm = %v, want %v", norm, tc.wantNorm)
			}
			for i := range tc.want {
				for j := range tc.want[i] {
					if math.Abs(float64(tc.grads[i][j]-tc.want[i][j])) > 1e-5 {
						t.Errorf("grad[%d][%d] = %v, want %v", i, j, tc.grads[i][j], tc.want[i][j])
					}
				}
			}
		})
	}
}

func TestClipGradNormLarge(t *testing.T) {
	g := [][]float32{make([]float32, 3*chunk+7)}
	for i := range g[0] {
		g[0][i] = 1
	}
	norm := ClipGradNorm(g, 12)
	if want := math.Sqrt(float64(len(g[0]))); math.Abs(norm-want) > 1e-9 {
		t.Fatalf("norm = %v, want %v", norm, want)
	}
	for i, v := range g[0] {
		if math.Abs(float64(v)-12/norm) > 1e-6 {
			t.Fatalf("grad[%d] = %v, want %v", i, v, 12/norm)
		}
	}
}

func TestPolyLR(t *testing.T) {
	tests := []struct {
		epoch int
		want  float64
	}{
		{0, 0.01},
		{500, 0.01 * math.Pow(0.5, 0.9)},
		{999, 0.01 * math.Pow(0.001, 0.9)},
	}
	for _, tc := range tests {
		if got := PolyLR(InitialLR, tc.epoch, 1000, PolyExponent); math.Abs(got-tc.want) > 1e-15 {
			t.Errorf("PolyLR(epoch %d) = %v, want %v", tc.epoch, got, tc.want)
		}
	}
}
