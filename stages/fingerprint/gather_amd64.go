//go:build amd64

package fingerprint

import "golang.org/x/sys/cpu"

// haveAVX2 reports whether the CPU runs the AVX2 gather kernels.
var haveAVX2 = cpu.X86.HasAVX2

// gather32 sets v[k] = table[ix[k]] for every k < len(ix) (len(v) >=
// len(ix)). Every index must be in [0, len(table)): the AVX2 kernel does
// not check.
func gather32(v, table []float32, ix []int32) {
	n := 0
	if haveAVX2 {
		n = len(ix) &^ 7
		gather8(v[:n], table, ix[:n])
	}
	gatherGo(v[n:], table, ix[n:])
}

// gatherCount32 is gather32 that also counts every drawn index:
// counts[ix[k]]++ (len(counts) >= len(table)).
func gatherCount32(v, table []float32, counts, ix []int32) {
	n := 0
	if haveAVX2 {
		n = len(ix) &^ 7
		gatherCount8(v[:n], table, counts, ix[:n])
	}
	gatherCountGo(v[n:], table, counts, ix[n:])
}

// gather8 is gather32 for a multiple of eight indices, with VPGATHERDD.
// Implemented in gather_amd64.s.
//
//go:noescape
func gather8(v, table []float32, ix []int32)

// gatherCount8 is gatherCount32 for a multiple of eight indices.
// Implemented in gather_amd64.s.
//
//go:noescape
func gatherCount8(v, table []float32, counts, ix []int32)
