// Package blas selects the GEMM backend of the network kernels: pure-Go gonum
// by default, or OpenBLAS through cgo (gonum.org/v1/netlib) when built with
// the `openblas` build tag.
//
// Matrices are row-major. The backend is chosen at build time; there is no
// mutable global state.
package blas

import (
	gblas "gonum.org/v1/gonum/blas"
)

// Float is the element type set of the generic entry points.
type Float interface {
	float32 | float64
}

// Full is the complete BLAS interface, the one gorgonia's G.Use and
// tensor.Use expect.
type Full interface {
	gblas.Float32
	gblas.Float64
	gblas.Complex64
	gblas.Complex128
}

// Implementation returns the BLAS implementation this binary was built with.
func Implementation() Full { return impl }

// Name says which backend this binary was built with: "gonum" or "openblas".
func Name() string { return name }

// Gemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices, where
// op(X) is X or its transpose as transA/transB say; op(A) is m×k, op(B) is
// k×n and C is m×n. lda, ldb and ldc are the row strides. With beta == 0, C
// is overwritten (its old contents, even NaN, are ignored).
func Gemm[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	ta, tb := gblas.NoTrans, gblas.NoTrans
	if transA {
		ta = gblas.Trans
	}
	if transB {
		tb = gblas.Trans
	}
	switch a := any(a).(type) {
	case []float32:
		impl.Sgemm(ta, tb, m, n, k, float32(alpha), a, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
	case []float64:
		impl.Dgemm(ta, tb, m, n, k, float64(alpha), a, lda, any(b).([]float64), ldb, float64(beta), any(c).([]float64), ldc)
	}
}
