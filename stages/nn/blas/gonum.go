//go:build !openblas

package blas

import "gonum.org/v1/gonum/blas/gonum"

const name = "gonum"

// splitGemm is false: gonum parallelises each product itself.
const splitGemm = false

var impl Full = gonum.Implementation{}
