//go:build openblas

package blas

// netlib's cgo preamble carries no link flags; OpenBLAS provides cblas_* and
// openblas_set_num_threads.

// #cgo LDFLAGS: -lopenblas
// void openblas_set_num_threads(int num_threads);
import "C"

import "gonum.org/v1/netlib/blas/netlib"

const name = "openblas"

// splitGemm is true: Gemm spreads products over goroutines itself.
const splitGemm = true

var impl Full = netlib.Implementation{}

func init() {
	// One OpenBLAS thread per call; Gemm runs calls on GOMAXPROCS goroutines.
	C.openblas_set_num_threads(1)
}
