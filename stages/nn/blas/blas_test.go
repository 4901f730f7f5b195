package blas

import (
	"math"
	"runtime"
	"testing"
)

// naiveGemm is the reference: C = alpha*op(A)*op(B) + beta*C.
func naiveGemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for l := 0; l < k; l++ {
				ai, bi := i*lda+l, l*ldb+j
				if transA {
					ai = l*lda + i
				}
				if transB {
					bi = j*ldb + l
				}
				av, bv := a[ai], b[bi]
				s += av * bv
			}
			c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
		}
	}
}

func TestGemm(t *testing.T) {
	tests := []struct {
		name           string
		transA, transB bool
		m, n, k        int
		alpha, beta    float64
	}{
		{"nn", false, false, 3, 5, 4, 1, 0},
		{"tn", true, false, 4, 3, 7, 2, 1},
		{"nt", false, true, 5, 2, 3, 1, 0.5},
		{"tt", true, true, 6, 7, 5, -1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ar, ac := tc.m, tc.k
			if tc.transA {
				ar, ac = ac, ar
			}
			br, bc := tc.k, tc.n
			if tc.transB {
				br, bc = bc, br
			}
			a := make([]float64, ar*ac)
			b := make([]float64, br*bc)
			c := make([]float64, tc.m*tc.n)
			for i := range a {
				a[i] = math.Sin(float64(i) + 1)
			}
			for i := range b {
				b[i] = math.Cos(float64(i) * 0.7)
			}
			for i := range c {
				c[i] = float64(i%5) - 2
			}
			want := append([]float64(nil), c...)
			naiveGemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, ac, b, bc, tc.beta, want, tc.n)

			got64 := append([]float64(nil), c...)
			Gemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, ac, b, bc, tc.beta, got64, tc.n)
			a32, b32, got32 := f32(a), f32(b), f32(c)
			Gemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, float32(tc.alpha), a32, ac, b32, bc, float32(tc.beta), got32, tc.n)
			for i := range want {
				if math.Abs(got64[i]-want[i]) > 1e-12 {
					t.Errorf("float64 c[%d] = %v, want %v", i, got64[i], want[i])
				}
				if math.Abs(float64(got32[i])-want[i]) > 1e-5 {
					t.Errorf("float32 c[%d] = %v, want %v", i, got32[i], want[i])
				}
			}
		})
	}
}

func TestGemmBetaZeroOverwritesNaN(t *testing.T) {
	a := []float32{1, 2}
	b := []float32{3, 4}
	c := []float32{float32(math.NaN())}
	Gemm(false, false, 1, 1, 2, 1, a, 2, b, 1, 0, c, 1)
	if c[0] != 11 {
		t.Fatalf("c = %v, want 11", c[0])
	}
}

func TestName(t *testing.T) {
	if n := Name(); n != "gonum" && n != "openblas" {
		t.Fatalf("Name() = %q", n)
	}
	if Implementation() == nil {
		t.Fatal("Implementation() is nil")
	}
}

func f32(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(v)
	}
	return y
}

// TestGemmSplitDeterministic checks that a product large enough to be split
// across goroutines gives the same bits with 1 and 4 of them, and matches the
// reference.
func TestGemmSplitDeterministic(t *testing.T) {
	tests := []struct {
		name           string
		transA, transB bool
		m, n, k        int
	}{
		{"wide", false, false, 20, 301, 200},
		{"wide transB", false, true, 20, 301, 200},
		{"tall transA", true, false, 301, 20, 200},
		{"tall", false, false, 301, 20, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := make([]float32, tc.m*tc.k)
			b := make([]float32, tc.k*tc.n)
			for i := range a {
				a[i] = float32(math.Sin(float64(i)))
			}
			for i := range b {
				b[i] = float32(math.Cos(float64(i) * 0.3))
			}
			lda, ldb := tc.k, tc.n
			if tc.transA {
				lda = tc.m
			}
			if tc.transB {
				ldb = tc.k
			}
			run := func(procs int) []float32 {
				old := runtime.GOMAXPROCS(procs)
				defer runtime.GOMAXPROCS(old)
				c := make([]float32, tc.m*tc.n)
				Gemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, 1, a, lda, b, ldb, 0, c, tc.n)
				return c
			}
			c1, c4 := run(1), run(4)
			want := make([]float64, tc.m*tc.n)
			naiveGemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, 1, f64(a), lda, f64(b), ldb, 0, want, tc.n)
			for i := range c1 {
				if math.Float32bits(c1[i]) != math.Float32bits(c4[i]) {
					t.Fatalf("c[%d] = %v with 1 goroutine, %v with 4", i, c1[i], c4[i])
				}
				if math.Abs(float64(c1[i])-want[i]) > 1e-3 {
					t.Fatalf("c[%d] = %v, want %v", i, c1[i], want[i])
				}
			}
		})
	}
}

func f64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}
