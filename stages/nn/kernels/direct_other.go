//go:build !amd64

package kernels

// haveDirect is false: the direct convolution tile exists only for amd64.
const haveDirect = false

// convTile4x24 is never called where haveDirect is false.
func convTile4x24(x *float32, offs *int, k int, w *float32, y *float32, ystride int, acc bool) {
	panic("kernels: direct convolution tile unavailable on this architecture")
}

// filterTile4x3 is never called where haveDirect is false.
func filterTile4x3(dy *float32, dystride int, x *float32, offs *int, n int, acc *float32) {
	panic("kernels: direct convolution tile unavailable on this architecture")
}
