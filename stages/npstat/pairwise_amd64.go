//go:build amd64

package npstat

import "golang.org/x/sys/cpu"

// haveAVX2 reports whether the CPU runs the AVX2 leaf sum; it gives the
// same bits as pairwiseLeafGo (the eight running sums are the eight lanes).
var haveAVX2 = cpu.X86.HasAVX2

// leaf32 is pairwiseLeafGo for float32 (8 <= len(a) <= 128).
func leaf32(a []float32) float32 {
	if haveAVX2 {
		return leaf32AVX2(a)
	}
	return pairwiseLeafGo(a)
}

// leaf32AVX2 is pairwiseLeafGo for float32 with AVX2, for len(a) >= 8.
// Implemented in pairwise_amd64.s.
//
//go:noescape
func leaf32AVX2(a []float32) float32

// leaves32 sets out[k] to the leaf sum of a[128k:128k+128] for every k
// (len(a) == 128*len(out)).
func leaves32(a, out []float32) {
	n := 0
	if haveAVX2 {
		n = len(out) &^ 3
		leaves32AVX2(a[:128*n], out[:n])
	}
	for k := n; k < len(out); k++ {
		out[k] = pairwiseLeafGo(a[128*k : 128*k+128])
	}
}

// leaves32AVX2 is leaves32 for a multiple of four leaves, summed four at a
// time so that their additions overlap. Implemented in pairwise_amd64.s.
//
//go:noescape
func leaves32AVX2(a, out []float32)
