//go:build amd64

package kernels

// The AVX2 instance-norm loops, used where haveDirect holds. Implemented in
// norm_amd64.s; n is a multiple of 16 (sumSq32) or 8 (the others).

// sumSq32 returns Σ (v[i] − shift) and Σ (v[i] − shift)² over i < n in
// float64, in sixteen lanes added in a fixed order.
//
//go:noescape
func sumSq32(v *float32, n int, shift float64) (s, q float64)

// normAct32 writes y[i] = t, or t·slope where t is not positive, with
// t = (x[i] − mean)·scale + beta, for i < n.
//
//go:noescape
func normAct32(x, y *float32, n int, mean, scale, beta, slope float32)

// normGradSums32 writes dx[i] = dy[i], or dy[i]·slope where t (as in
// normAct32) is not positive, and returns Σ dx[i] and Σ dx[i]·(x[i] − m) in
// float64, in eight lanes added in a fixed order.
//
//go:noescape
func normGradSums32(x, dy, dx *float32, n int, mean, scale, beta, slope float32, m float64) (a, b float64)

// normGrad32 writes dx[i] = k1·dx[i] − k2·(x[i] − mean) + k0 for i < n.
//
//go:noescape
func normGrad32(x, dx *float32, n int, mean, k0, k1, k2 float32)
