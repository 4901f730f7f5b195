//go:build !amd64

package fingerprint

// gather32 sets v[k] = table[ix[k]] for every k < len(ix) (len(v) >=
// len(ix)).
func gather32(v, table []float32, ix []int32) { gatherGo(v, table, ix) }

// gatherCount32 is gather32 that also counts every drawn index:
// counts[ix[k]]++ (len(counts) >= len(table)).
func gatherCount32(v, table []float32, counts, ix []int32) {
	gatherCountGo(v, table, counts, ix)
}
