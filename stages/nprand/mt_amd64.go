//go:build amd64

package nprand

import "golang.org/x/sys/cpu"

// haveAVX2 reports whether the CPU runs the AVX2 kernels; they give the
// same outputs as the pure-Go code.
var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasPOPCNT

// twist8 regenerates n words (a multiple of 8) of the state in place,
// eight at a time: dst[k] = far[k] ^ twisted(dst[k], dst[k+1]). It reads
// dst[n], so the caller keeps that word inside the state. Implemented in
// mt_amd64.s.
//
//go:noescape
func twist8(dst, far *uint32, n int)

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
	if !haveAVX2 {
		twistGo(mt)
		return
	}
	// Words below stateLen-shift read old words at i+shift; the rest read
	// words regenerated 227 places earlier. Each vector run stops one
	// group short of where its far words would wrap, and the few words
	// left over go through twistWord.
	const lo = (stateLen - shift) &^ 7 // 224
	twist8(&mt[0], &mt[shift], lo)
	for i := lo; i < stateLen-shift; i++ {
		twistWord(mt, i)
	}
	const hi = (stateLen - 1 - (stateLen - shift)) &^ 7 // 392
	twist8(&mt[stateLen-shift], &mt[0], hi)
	for i := stateLen - shift + hi; i < stateLen; i++ {
		twistWord(mt, i)
	}
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
