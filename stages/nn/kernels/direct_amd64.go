//go:build amd64

package kernels

import "golang.org/x/sys/cpu"

// haveDirect reports whether the CPU runs the AVX2/FMA direct-convolution
// tile.
var haveDirect = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// convTile4x24 computes a 4×24 output tile of the direct convolution:
// y[r·ystride+j] = Σ_{i<k} w[4i+r] · x[offs[i]/4 + j] (offs in bytes), each
// element one FMA chain in order of i that starts at 0 or, with acc, at the
// current y (so a sum split over several calls has the same bits).
// Implemented in direct_amd64.s.
//
//go:noescape
func convTile4x24(x *float32, offs *int, k int, w *float32, y *float32, ystride int, acc bool)

// filterTile4x3 adds to acc (12×8 lanes) the lane-wise partial sums of a 4×3
// weight-gradient tile: acc[(3r+j)·8+l] += Σ_{p<n} dy[r·dystride+8p+l] ·
// x[offs[j]/4+8p+l] (offs in bytes), each lane one FMA chain over p in
// order. Implemented in direct_amd64.s.
//
//go:noescape
func filterTile4x3(dy *float32, dystride int, x *float32, offs *int, n int, acc *float32)
