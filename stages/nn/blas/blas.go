// Package blas selects the GEMM backend of the network kernels: pure-Go gonum
// by default, or OpenBLAS through cgo (gonum.org/v1/netlib) when built with
// the `openblas` build tag.
//
// Matrices are row-major. The backend is chosen at build time. gonum spreads
// a GEMM over GOMAXPROCS goroutines itself. OpenBLAS is switched to one thread
// at start-up, overriding OPENBLAS_NUM_THREADS (its idle threads spin and
// would compete with the Go scheduler's workers on small machines); Gemm
// instead splits a large product into fixed-size column or row blocks run on
// GOMAXPROCS goroutines. Either way every element of C is computed by the
// same code in the same order whatever the number of goroutines, so results
// do not depend on the schedule. Calls made directly on Implementation() (as
// gorgonia's built-in MatMul does after G.Use) run on one OpenBLAS thread.
package blas

import (
	"runtime"
	"sync"
	"sync/atomic"

	gblas "gonum.org/v1/gonum/blas"
)

// minSplitFlops is the smallest product (m·n·k) Gemm splits across
// goroutines; below it the goroutine overhead outweighs the gain.
const minSplitFlops = 1 << 20

// maxSplitWorkers caps concurrent backend calls: OpenBLAS takes per-call
// buffers from a pool sized by its build-time thread limit, and some releases
// abort the process when more calls run at once.
const maxSplitWorkers = 32

// splitBlock is the width (rows or columns of C) of one block of a split
// product: a multiple of the micro-kernel widths.
const splitBlock = 128

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
	dim := max(m, n)
	if !splitGemm || m*n*k < minSplitFlops || dim <= splitBlock {
		gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	// Split the larger of m and n into blocks of a fixed size, so that each
	// element is computed by the same call whatever the number of workers
	// (OpenBLAS's edge kernels round differently from its inner ones).
	blocks := (dim + splitBlock - 1) / splitBlock
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(blocks, runtime.GOMAXPROCS(0), maxSplitWorkers) {
		wg.Go(func() {
			for {
				lo := int(next.Add(1)-1) * splitBlock
				if lo >= dim {
					return
				}
				w := min(splitBlock, dim-lo)
				if n >= m {
					bo := lo // columns of op(B)
					if transB {
						bo = lo * ldb
					}
					gemm(transA, transB, m, w, k, alpha, a, lda, b[bo:], ldb, beta, c[lo:], ldc)
					continue
				}
				ao := lo * lda // rows of op(A)
				if transA {
					ao = lo
				}
				gemm(transA, transB, w, n, k, alpha, a[ao:], lda, b, ldb, beta, c[lo*ldc:], ldc)
			}
		})
	}
	wg.Wait()
}

// gemm runs one product on the backend.
func gemm[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
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
