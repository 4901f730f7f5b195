package kernels

import (
	"fmt"
	"math"
	"testing"
)

// naiveInstanceNorm is the reference forward pass in float64.
func naiveInstanceNorm(x, gamma, beta []float64, n, c, s int) []float64 {
	y := make([]float64, len(x))
	for i := range n * c {
		xs := x[i*s : (i+1)*s]
		var m, v float64
		for _, e := range xs {
			m += e
		}
		m /= float64(s)
		for _, e := range xs {
			v += (e - m) * (e - m)
		}
		v /= float64(s)
		for j, e := range xs {
			y[i*s+j] = gamma[i%c]*(e-m)/math.Sqrt(v+InstanceNormEps) + beta[i%c]
		}
	}
	return y
}

var normCases = []struct {
	name    string
	n, c, s int
}{
	{"small", 2, 3, 7},
	{"group 257", 1, 2, 257},
	{"group 300", 2, 2, 300},
	{"group 1001", 1, 3, 7 * 11 * 13},
}

func TestInstanceNormGradients(t *testing.T) {
	for _, tc := range normCases {
		t.Run(tc.name, func(t *testing.T) {
			n, c, s := tc.n, tc.c, tc.s
			x := randSlice(1, n*c*s)
			for i := range x {
				x[i] = 3*x[i] + 0.5 // not already normalised
			}
			gamma, beta := randSlice(2, c), randSlice(3, c)
			r := randSlice(4, n*c*s)
			y, mean, rstd := make([]float64, len(x)), make([]float64, n*c), make([]float64, n*c)
			loss := func() float64 {
				InstanceNormForward(x, gamma, beta, n, c, s, InstanceNormEps, y, mean, rstd)
				return dot(r, y)
			}
			loss()
			dx, dg, db := make([]float64, len(x)), make([]float64, c), make([]float64, c)
			InstanceNormBackward(x, gamma, mean, rstd, r, n, c, s, dx, dg, db)
			checkGrad(t, "dx", x, dx, loss)
			checkGrad(t, "dgamma", gamma, dg, loss)
			checkGrad(t, "dbeta", beta, db, loss)
		})
	}
}

func TestInstanceNormMatchesNaive(t *testing.T) {
	for _, tc := range normCases {
		t.Run(tc.name, func(t *testing.T) {
			n, c, s := tc.n, tc.c, tc.s
			x, gamma, beta := randSlice(1, n*c*s), randSlice(2, c), randSlice(3, c)
			want := naiveInstanceNorm(x, gamma, beta, n, c, s)
			// In place, as the network may run it.
			y := to32(x)
			mean, rstd := make([]float32, n*c), make([]float32, n*c)
			InstanceNormForward(y, to32(gamma), to32(beta), n, c, s, InstanceNormEps, y, mean, rstd)
			checkClose(t, "y", y, want, 1e-5)
			for i := range n * c {
				if math.Abs(float64(mean[i])-mean64(x[i*s:(i+1)*s])) > 1e-6 {
					t.Fatalf("mean[%d] = %v, want %v", i, mean[i], mean64(x[i*s:(i+1)*s]))
				}
			}
		})
	}
}

func mean64(v []float64) float64 {
	var s float64
	for _, e := range v {
		s += e
	}
	return s / float64(len(v))
}

// TestInstanceNormLargeOffset checks the one-pass variance on data whose
// mean dwarfs its spread.
func TestInstanceNormLargeOffset(t *testing.T) {
	const n, c, s = 1, 2, 500
	x := randSlice(5, n*c*s)
	for i := range x {
		x[i] = 1e4 + 1e-2*x[i]
	}
	gamma, beta := []float64{1, 2}, []float64{0, -1}
	want := naiveInstanceNorm(x, gamma, beta, n, c, s)
	y, mean, rstd := make([]float64, len(x)), make([]float64, n*c), make([]float64, n*c)
	InstanceNormForward(x, gamma, beta, n, c, s, InstanceNormEps, y, mean, rstd)
	for i := range want {
		if math.Abs(y[i]-want[i]) > 1e-7 { // condition number ~1e6
			t.Fatalf("y[%d] = %.12g, want %.12g", i, y[i], want[i])
		}
	}
	// float32 with mean/std ≈ 2000 stays accurate. The reference sees the
	// same float32-rounded input.
	for i := range x {
		x[i] = 1e3 + 1e2*(x[i]-1e4)
	}
	x32 := to32(x)
	for i, v := range x32 {
		x[i] = float64(v)
	}
	want = naiveInstanceNorm(x, gamma, beta, n, c, s)
	y32, m32, r32 := make([]float32, len(x)), make([]float32, n*c), make([]float32, n*c)
	InstanceNormForward(x32, to32(gamma), to32(beta), n, c, s, InstanceNormEps, y32, m32, r32)
	checkClose(t, "y float32", y32, want, 1e-3)
}

// TestInstanceNormDeterministic runs enough planes for the parallel path with
// 1 and 4 goroutines, plain and fused with LeakyReLU, and wants the same
// bits.
func TestInstanceNormDeterministic(t *testing.T) {
	const n, c, s = 2, 4, 4096
	x, gamma, beta, dy := to32(randSlice(1, n*c*s)), to32(randSlice(2, c)), to32(randSlice(3, c)), to32(randSlice(4, n*c*s))
	run := func(procs int, slope float32) (y, dx, dg, db []float32) {
		y, dx, dg, db = make([]float32, len(x)), make([]float32, len(x)), make([]float32, c), make([]float32, c)
		mean, rstd := make([]float32, n*c), make([]float32, n*c)
		withProcs(procs, func() {
			if slope == 1 {
				InstanceNormForward(x, gamma, beta, n, c, s, InstanceNormEps, y, mean, rstd)
				InstanceNormBackward(x, gamma, mean, rstd, dy, n, c, s, dx, dg, db)
				return
			}
			InstanceNormLeakyReLUForward(x, gamma, beta, n, c, s, InstanceNormEps, slope, y, mean, rstd)
			InstanceNormLeakyReLUBackward(x, gamma, beta, mean, rstd, dy, n, c, s, slope, dx, dg, db)
		})
		return
	}
	for _, slope := range []float32{1, LeakyReLUSlope} { // plain and fused with LeakyReLU
		y1, dx1, dg1, db1 := run(1, slope)
		y4, dx4, dg4, db4 := run(4, slope)
		checkSame(t, "y", y1, y4)
		checkSame(t, "dx", dx1, dx4)
		checkSame(t, "dgamma", dg1, dg4)
		checkSame(t, "dbeta", db1, db4)
	}
}

// normActCases add planes longer than normPiece, which the fused passes
// handle piece by piece.
var normActCases = append(normCases[:len(normCases):len(normCases)], struct {
	name    string
	n, c, s int
}{"group 4500", 1, 2, 4500})

func TestInstanceNormLeakyReLUGradients(t *testing.T) {
	for _, tc := range normActCases {
		t.Run(tc.name, func(t *testing.T) {
			n, c, s := tc.n, tc.c, tc.s
			x := randSlice(1, n*c*s)
			for i := range x {
				x[i] = 3*x[i] + 0.5
			}
			gamma, beta := randSlice(2, c), randSlice(3, c)
			r := randSlice(4, n*c*s)
			y, mean, rstd := make([]float64, len(x)), make([]float64, n*c), make([]float64, n*c)
			loss := func() float64 {
				InstanceNormLeakyReLUForward(x, gamma, beta, n, c, s, InstanceNormEps, LeakyReLUSlope, y, mean, rstd)
				return dot(r, y)
			}
			loss()
			dx, dg, db := make([]float64, len(x)), make([]float64, c), make([]float64, c)
			InstanceNormLeakyReLUBackward(x, gamma, beta, mean, rstd, r, n, c, s, LeakyReLUSlope, dx, dg, db)
			checkGrad(t, "dx", x, dx, loss)
			checkGrad(t, "dgamma", gamma, dg, loss)
			checkGrad(t, "dbeta", beta, db, loss)
		})
	}
}

// TestInstanceNormLeakyReLUMatchesUnfused wants the fused passes, run in
// place, to give the bits of InstanceNorm and LeakyReLU run one after the
// other.
func TestInstanceNormLeakyReLUMatchesUnfused(t *testing.T) {
	for _, tc := range normActCases {
		t.Run(tc.name, func(t *testing.T) {
			n, c, s := tc.n, tc.c, tc.s
			x, gamma, beta := to32(randSlice(1, n*c*s)), to32(randSlice(2, c)), to32(randSlice(3, c))
			dy := to32(randSlice(4, n*c*s))
			const slope = LeakyReLUSlope

			y, mean, rstd := make([]float32, len(x)), make([]float32, n*c), make([]float32, n*c)
			InstanceNormForward(x, gamma, beta, n, c, s, InstanceNormEps, y, mean, rstd)
			LeakyReLUForward(y, y, slope)
			dz := make([]float32, len(x))
			LeakyReLUBackward(y, dy, dz, slope)
			dx, dg, db := make([]float32, len(x)), make([]float32, c), make([]float32, c)
			InstanceNormBackward(x, gamma, mean, rstd, dz, n, c, s, dx, dg, db)

			fy := append([]float32(nil), x...)
			fmean, frstd := make([]float32, n*c), make([]float32, n*c)
			InstanceNormLeakyReLUForward(fy, gamma, beta, n, c, s, InstanceNormEps, slope, fy, fmean, frstd)
			fdx := append([]float32(nil), dy...)
			fdg, fdb := make([]float32, c), make([]float32, c)
			InstanceNormLeakyReLUBackward(x, gamma, beta, fmean, frstd, fdx, n, c, s, slope, fdx, fdg, fdb)
			checkSame(t, "y", y, fy)
			checkSame(t, "mean", mean, fmean)
			checkSame(t, "rstd", rstd, frstd)
			checkSame(t, "dx", dx, fdx)
			checkSame(t, "dgamma", dg, fdg)
			checkSame(t, "dbeta", db, fdb)
		})
	}
}

// TestInstanceNormFloat32MatchesFloat64 checks the float32 passes (AVX2
// loops where the CPU has them, for the bulk of each plane) against the
// float64 ones, plain and fused with LeakyReLU.
func TestInstanceNormFloat32MatchesFloat64(t *testing.T) {
	for _, tc := range normActCases {
		for _, slope := range []float64{1, LeakyReLUSlope} {
			t.Run(fmt.Sprintf("%s slope %g", tc.name, slope), func(t *testing.T) {
				n, c, s := tc.n, tc.c, tc.s
				x, gamma, beta, dy := randSlice(1, n*c*s), randSlice(2, c), randSlice(3, c), randSlice(4, n*c*s)
				y, mean, rstd := make([]float64, len(x)), make([]float64, n*c), make([]float64, n*c)
				dx, dg, db := make([]float64, len(x)), make([]float64, c), make([]float64, c)
				y32, mean32, rstd32 := make([]float32, len(x)), make([]float32, n*c), make([]float32, n*c)
				dx32, dg32, db32 := make([]float32, len(x)), make([]float32, c), make([]float32, c)
				x32, gamma32, beta32, dy32 := to32(x), to32(gamma), to32(beta), to32(dy)
				if slope == 1 {
					InstanceNormForward(x, gamma, beta, n, c, s, InstanceNormEps, y, mean, rstd)
					InstanceNormBackward(x, gamma, mean, rstd, dy, n, c, s, dx, dg, db)
					InstanceNormForward(x32, gamma32, beta32, n, c, s, InstanceNormEps, y32, mean32, rstd32)
					InstanceNormBackward(x32, gamma32, mean32, rstd32, dy32, n, c, s, dx32, dg32, db32)
				} else {
					InstanceNormLeakyReLUForward(x, gamma, beta, n, c, s, InstanceNormEps, slope, y, mean, rstd)
					InstanceNormLeakyReLUBackward(x, gamma, beta, mean, rstd, dy, n, c, s, slope, dx, dg, db)
					InstanceNormLeakyReLUForward(x32, gamma32, beta32, n, c, s, InstanceNormEps, float32(slope), y32, mean32, rstd32)
					InstanceNormLeakyReLUBackward(x32, gamma32, beta32, mean32, rstd32, dy32, n, c, s, float32(slope), dx32, dg32, db32)
				}
				checkClose(t, "y", y32, y, 1e-5)
				checkClose(t, "mean", mean32, mean, 1e-6)
				checkClose(t, "rstd", rstd32, rstd, 1e-5)
				checkClose(t, "dx", dx32, dx, 1e-4)
				checkClose(t, "dgamma", dg32, dg, 1e-4)
				checkClose(t, "dbeta", db32, db, 1e-4)
			})
		}
	}
}
