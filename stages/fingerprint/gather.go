package fingerprint

import "github.com/nnrunner/nnrunner/stages/npstat"

// gather sets v[k] = table[ix[k]] for every k < len(ix): numpy's take of
// the drawn voxels.
func gather[T npstat.Float](v, table []T, ix []int32) {
	if v32, ok := any(v).([]float32); ok {
		gather32(v32, any(table).([]float32), ix)
		return
	}
	v = v[:len(ix)]
	for k, j := range ix {
		v[k] = table[j]
	}
}

// gatherCount sets v[k] = T(table[ix[k]]) like gather, in the pooled
// dtype T, and counts how often each voxel is drawn: counts[ix[k]]++.
func gatherCount[T npstat.Float](v []T, table []float32, counts, ix []int32) {
	if v32, ok := any(v).([]float32); ok {
		gatherCount32(v32, table, counts, ix)
		return
	}
	v = v[:len(ix)]
	for k, j := range ix {
		v[k] = T(table[j])
		counts[j]++
	}
}

// gatherGo is the pure-Go gather32.
func gatherGo(v, table []float32, ix []int32) {
	v = v[:len(ix)]
	for k, j := range ix {
		v[k] = table[j]
	}
}

// gatherCountGo is the pure-Go gatherCount32.
func gatherCountGo(v, table []float32, counts, ix []int32) {
	v = v[:len(ix)]
	for k, j := range ix {
		v[k] = table[j]
		counts[j]++
	}
}
