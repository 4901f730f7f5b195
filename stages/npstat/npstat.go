// Package npstat computes float32 and float64 reductions and percentiles
// exactly as numpy 1.24 does (pairwise summation in 8192-element blocks,
// rounding of every step to the array's dtype, the "linear" percentile
// method), so statistics written by nnU-Net can be reproduced bit for bit.
package npstat

import (
	"math"
	"slices"
)

// BlockSize is the number of elements numpy's buffered reduction hands to
// one pairwise summation; block results are accumulated sequentially.
const BlockSize = 8192

// Float is a numpy floating dtype: float32 or float64. Every operation is
// rounded to the dtype, as numpy's loops do.
type Float interface{ ~float32 | ~float64 }

// Pairwise returns numpy's pairwise_sum of a (one reduction block), with
// every addition rounded to T.
func Pairwise[T Float](a []T) T {
	n := len(a)
	switch {
	case n < 8:
		var res T
		for _, x := range a {
			res += x
		}
		return res
	case n <= 128:
		if f, ok := any(a).([]float32); ok {
			return T(leaf32(f))
		}
		return pairwiseLeafGo(a)
	case n == BlockSize:
		if f, ok := any(a).([]float32); ok {
			return T(block32(f))
		}
		fallthrough
	default:
		n2 := n / 2
		n2 -= n2 % 8
		return Pairwise(a[:n2]) + Pairwise(a[n2:])
	}
}

// block32 is Pairwise of one full float32 block. Halving 8192 always
// gives multiples of 8, so the recursion's leaves are the 64 runs of 128
// elements and its sums the levels of a perfect binary tree over them.
func block32(a []float32) float32 {
	var s [BlockSize / 128]float32
	leaves32(a, s[:])
	for n := len(s); n > 1; n /= 2 {
		for i := range n / 2 {
			s[i] = s[2*i] + s[2*i+1]
		}
	}
	return s[0]
}

// pairwiseLeafGo is numpy's pairwise_sum for 8 <= len(a) <= 128: eight
// running sums over a's groups of eight, combined as a tree, then the
// remaining elements added in order.
func pairwiseLeafGo[T Float](a []T) T {
	n := len(a)
	var r [8]T
	copy(r[:], a[:8])
	i := 8
	for ; i < n-n%8; i += 8 {
		r[0] += a[i]
		r[1] += a[i+1]
		r[2] += a[i+2]
		r[3] += a[i+3]
		r[4] += a[i+4]
		r[5] += a[i+5]
		r[6] += a[i+6]
		r[7] += a[i+7]
	}
	res := ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
	for ; i < n; i++ {
		res += a[i]
	}
	return res
}

// Sum returns numpy's sum of a contiguous array: Pairwise over
// consecutive BlockSize blocks, accumulated in order.
func Sum[T Float](a []T) T {
	var acc T
	for start := 0; start < len(a); start += BlockSize {
		acc += Pairwise(a[start:min(start+BlockSize, len(a))])
	}
	return acc
}

// Mean returns numpy's mean in the array's dtype: Sum(a) / T(len(a)).
// The mean of an empty slice is NaN, as in numpy.
func Mean[T Float](a []T) T {
	return Sum(a) / T(len(a))
}

// Std returns numpy's population standard deviation (ddof 0) in the
// array's dtype: squared deviations from Mean, summed like Sum, divided by
// n and square-rooted.
func Std[T Float](a []T) T {
	m := Mean(a)
	var acc T
	buf := make([]T, min(BlockSize, len(a)))
	for start := 0; start < len(a); start += BlockSize {
		blk := a[start:min(start+BlockSize, len(a))]
		d := buf[:len(blk)]
		for i, x := range blk {
			v := x - m
			d[i] = T(v * v) // conversion: no fused multiply-add
		}
		acc += Pairwise(d)
	}
	return Sqrt(acc / T(len(a)))
}

// Sqrt is numpy's sqrt in the dtype of x (correctly rounded).
func Sqrt[T Float](x T) T {
	return T(math.Sqrt(float64(x)))
}

// Percentile returns np.percentile(a, q) with the default "linear"
// method. a is not modified. It panics on an empty slice (numpy raises
// IndexError).
func Percentile[T Float](a []T, q float64) float64 {
	s := slices.Clone(a)
	slices.Sort(s)
	return PercentileSorted(s, q)
}

// PercentileSorted is Percentile for an already ascending slice.
func PercentileSorted[T Float](sorted []T, q float64) float64 {
	return PercentileFunc(len(sorted), q, func(i int) T { return sorted[i] })
}

// PercentileFunc is Percentile of n values whose i-th smallest is at(i).
// It lets callers keep large samples in a compressed form (for example as
// value/count pairs). The difference of the two neighbours is taken in
// the dtype T, as numpy does. It panics when n == 0.
func PercentileFunc[T Float](n int, q float64, at func(i int) T) float64 {
	if n == 0 {
		panic("npstat: percentile of an empty array")
	}
	h := float64(n-1) * (q / 100)
	lo := math.Floor(h)
	t := h - lo
	l := int(lo)
	hi := min(l+1, n-1)
	a, b := at(l), at(hi)
	d := float64(b - a)
	// The conversions keep the compiler from fusing into an FMA, which
	// numpy's separate ufunc calls never do.
	if t < 0.5 {
		return float64(a) + float64(d*t)
	}
	return float64(b) - float64(d*(1-t))
}

// Median64 returns np.median of float64 values: the middle value, or the
// mean of the two middle values for an even count. a is not modified. It
// returns NaN for an empty slice, as numpy does.
func Median64(a []float64) float64 {
	if len(a) == 0 {
		return math.NaN()
	}
	s := slices.Clone(a)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
