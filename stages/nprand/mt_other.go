//go:build !amd64

package nprand

// twist regenerates the whole state.
func twist(mt *[stateLen]uint32) { twistGo(mt) }

// packIndices appends to dst the tempered words of src, masked with mask,
// that are <= m, and returns how many words of src it consumed and how
// many indices it wrote. It stops when dst is full, so every consumed
// word belongs to the draws that filled dst. m must be below 2^31.
func packIndices(dst []int32, src []uint32, m, mask uint32) (consumed, written int) {
	return packIndicesGo(dst, src, m, mask)
}
