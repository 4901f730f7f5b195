package kernels

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// randSlice returns n deterministic pseudo-random values in [-1, 1).
func randSlice(seed uint64, n int) []float64 {
	r := rand.New(rand.NewPCG(seed, 7))
	v := make([]float64, n)
	for i := range v {
		v[i] = 2*r.Float64() - 1
	}
	return v
}

func to32(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(v)
	}
	return y
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// checkGrad compares the analytic gradient of loss with respect to p against
// central differences at up to 40 indices spread over p. loss reads p.
func checkGrad(t *testing.T, what string, p, analytic []float64, loss func() float64) {
	t.Helper()
	const h = 1e-6
	step := max(1, len(p)/40)
	worst := 0.0
	for i := 0; i < len(p); i += step {
		orig := p[i]
		p[i] = orig + h
		lp := loss()
		p[i] = orig - h
		lm := loss()
		p[i] = orig
		fd := (lp - lm) / (2 * h)
		err := math.Abs(fd-analytic[i]) / math.Max(1, math.Max(math.Abs(fd), math.Abs(analytic[i])))
		worst = max(worst, err)
		if err > 1e-6 {
			t.Errorf("%s[%d]: analytic %.10g, finite difference %.10g", what, i, analytic[i], fd)
			return
		}
	}
	t.Logf("%s: worst relative gradient error %.2e", what, worst)
}

// checkClose fails when got (float32) and want (float64 reference) differ by
// more than tol relative to max(1, |want|).
func checkClose(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: length %d, want %d", what, len(got), len(want))
	}
	worst := 0.0
	for i := range want {
		err := math.Abs(float64(got[i])-want[i]) / math.Max(1, math.Abs(want[i]))
		if !(err <= tol) {
			t.Fatalf("%s[%d] = %v, want %v (tolerance %g)", what, i, got[i], want[i], tol)
		}
		worst = max(worst, err)
	}
	t.Logf("%s: worst relative error vs float64 reference %.2e", what, worst)
}

// checkSame fails unless a and b are bitwise equal.
func checkSame(t *testing.T, what string, a, b []float32) {
	t.Helper()
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("%s[%d]: %v on one run, %v on another: not deterministic", what, i, a[i], b[i])
		}
	}
}

// withProcs runs f with GOMAXPROCS set to procs.
func withProcs(procs int, f func()) {
	old := runtime.GOMAXPROCS(procs)
	defer runtime.GOMAXPROCS(old)
	f()
}
