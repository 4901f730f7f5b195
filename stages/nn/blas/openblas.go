//go:build openblas

package blas

// netlib's cgo preamble carries no link flags; OpenBLAS provides cblas_*.

// #cgo LDFLAGS: -lopenblas
import "C"

import "gonum.org/v1/netlib/blas/netlib"

const name = "openblas"

var impl Full = netlib.Implementation{}
