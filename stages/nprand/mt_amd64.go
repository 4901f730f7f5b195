//go:build amd64

package nprand

import "golang.org/x/sys/cpu"

// haveAVX2 reports whether the CPU runs the AVX2 kernels; they give the
// same outputs as the pure-Go code.
var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasPOPCNT

// twistAVX2 is twistGo with the words regenerated eight at a time where
// the words they read allow it. Implemented in mt_amd64.s.
//
//go:noescape
func twistAVX2(mt *[stateLen]uint32)

// pack8 tempers the words of src eight at a time, masks them and appends
// the ones <= m to dst (left-packed with packPerm), while at least eight
// words of src and eight slots of dst remain. It returns how many words it
// consumed and how many indices it wrote; it may scribble on dst beyond
// written. m must be below 2^31. Implemented in mt_amd64.s.
//
//go:noescape
func pack8(dst []int32, src []uint32, m, mask uint32, perm *[256][8]uint32) (consumed, written int)

// packPerm[b] lists the set bits of b in increasing order: the vpermd
// indices that move the accepted lanes of a group of eight to its front.
var packPerm = func() *[256][8]uint32 {
	var p [256][8]uint32
	for b := range p {
		k := 0
		for lane := range 8 {
			if b&(1<<lane) != 0 {
				p[b][k] = uint32(lane)
				k++
			}
		}
	}
	return &p
}()

// twist regenerates the whole state.
func twist(mt *[stateLen]uint32) {
	if haveAVX2 {
		twistAVX2(mt)
		return
	}
	twistGo(mt)
}

// packIndices appends to dst the tempered words of src, masked with mask,
// that are <= m, and returns how many words of src it consumed and how
// many indices it wrote. It stops when dst is full, so every consumed
// word belongs to the draws that filled dst. m must be below 2^31.
func packIndices(dst []int32, src []uint32, m, mask uint32) (consumed, written int) {
	if haveAVX2 {
		consumed, written = pack8(dst, src, m, mask, packPerm)
	}
	c, w := packIndicesGo(dst[written:], src[consumed:], m, mask)
	return consumed + c, written + w
}
