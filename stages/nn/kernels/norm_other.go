//go:build !amd64

package kernels

// The AVX2 instance-norm loops are never called where haveDirect is false.

func sumSq32(v *float32, n int, shift float64) (s, q float64) {
	panic("kernels: AVX2 instance norm unavailable on this architecture")
}

func normAct32(x, y *float32, n int, mean, scale, beta, slope float32) {
	panic("kernels: AVX2 instance norm unavailable on this architecture")
}

func normGradSums32(x, dy, dx *float32, n int, mean, scale, beta, slope float32, m float64) (a, b float64) {
	panic("kernels: AVX2 instance norm unavailable on this architecture")
}

func normGrad32(x, dx *float32, n int, mean, k0, k1, k2 float32) {
	panic("kernels: AVX2 instance norm unavailable on this architecture")
}
