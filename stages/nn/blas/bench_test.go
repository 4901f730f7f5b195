package blas

import (
	"fmt"
	"testing"
)

// BenchmarkSgemm measures the backend on a square GEMM and on the shapes of
// the 32→32 3x3x3 convolution (forward, backward-data, backward-filter).
func BenchmarkSgemm(b *testing.B) {
	shapes := []struct {
		name           string
		transA, transB bool
		m, n, k        int
	}{
		{"square1024", false, false, 1024, 1024, 1024},
		{"convForward", false, false, 32, 1200, 864},
		{"convDataTransA", true, false, 864, 1200, 32},
		{"convFilterTransB", false, true, 32, 864, 1200},
	}
	for _, s := range shapes {
		b.Run(fmt.Sprintf("%s_%dx%dx%d", s.name, s.m, s.n, s.k), func(b *testing.B) {
			a := make([]float32, s.m*s.k)
			bb := make([]float32, s.k*s.n)
			c := make([]float32, s.m*s.n)
			for i := range a {
				a[i] = float32(i%7) - 3
			}
			for i := range bb {
				bb[i] = float32(i%5) - 2
			}
			lda, ldb := s.k, s.n
			if s.transA {
				lda = s.m
			}
			if s.transB {
				ldb = s.k
			}
			for b.Loop() {
				Gemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
			}
			b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
