//go:build !openblas

package blas

import "gonum.org/v1/gonum/blas/gonum"

const name = "gonum"

var impl Full = gonum.Implementation{}
