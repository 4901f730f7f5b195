//go:build amd64

package fingerprint

// gather32 sets v[k] = table[ix[k]] for every k < len(ix) (len(v) >=
// len(ix)). Every index must be in [0, len(table)): the assembly does not
// check (the indices come from nprand.Indices with n = len(table)).
func gather32(v, table []float32, ix []int32) {
	n := len(ix) &^ 7
	gather8(v[:n], table, ix[:n])
	gatherGo(v[n:], table, ix[n:])
}

// gatherCount32 is gather32 that also counts every drawn index:
// counts[ix[k]]++ (len(counts) >= len(table)).
func gatherCount32(v, table []float32, counts, ix []int32) {
	n := len(ix) &^ 7
	gatherCount8(v[:n], table, counts, ix[:n])
	gatherCountGo(v[n:], table, counts, ix[n:])
}

// gather8 is gather32 for a multiple of eight indices: scalar loads,
// unrolled eight times, without bounds checks. (VPGATHERDD was slower in
// the fingerprint: perf put its loop 20-30% above this one on AMD EPYC.)
// Implemented in gather_amd64.s.
//
//go:noescape
func gather8(v, table []float32, ix []int32)

// gatherCount8 is gatherCount32 for a multiple of eight indices, like
// gather8. Implemented in gather_amd64.s.
//
//go:noescape
func gatherCount8(v, table []float32, counts, ix []int32)
