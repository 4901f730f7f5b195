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
