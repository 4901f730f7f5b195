// Package nprand reproduces numpy's legacy random number generator
// (numpy.random.RandomState with an integer seed, numpy 1.24): the MT19937
// stream with numpy's seeding and the exact draw recipes of randint,
// choice, shuffle, permutation and random_sample, so that results computed
// from random draws match upstream nnU-Net bit for bit.
package nprand

const (
	stateLen   = 624
	shift      = 397
	matrixA    = 0x9908b0df
	upperMask  = 0x80000000
	lowerMask  = 0x7fffffff
	seedFactor = 1812433253
)

// RandomState is numpy's legacy RandomState: an MT19937 generator. It is not
// safe for concurrent use. Copying a RandomState value copies its state.
type RandomState struct {
	mt  [stateLen]uint32
	pos int
}

// New returns a generator seeded like numpy.random.RandomState(seed).
func New(seed uint32) *RandomState {
	rs := &RandomState{}
	rs.Seed(seed)
	return rs
}

// Seed resets the generator as numpy.random.RandomState.seed(seed) does for
// an integer seed.
func (rs *RandomState) Seed(seed uint32) {
	rs.mt[0] = seed
	for i := 1; i < stateLen; i++ {
		prev := rs.mt[i-1]
		rs.mt[i] = seedFactor*(prev^(prev>>30)) + uint32(i)
	}
	rs.pos = stateLen
}

// twistGo regenerates the whole state (the pure-Go twist).
func twistGo(mt *[stateLen]uint32) {
	// cur carries mt[i+1] (loaded for one word) over as the next word's mt[i].
	cur := mt[0]
	for i := 0; i < stateLen-shift; i++ {
		next := mt[i+1]
		y := (cur & upperMask) | (next & lowerMask)
		mt[i] = mt[i+shift] ^ (y >> 1) ^ (-(y & 1) & matrixA)
		cur = next
	}
	for i := stateLen - shift; i < stateLen-1; i++ {
		next := mt[i+1]
		y := (cur & upperMask) | (next & lowerMask)
		mt[i] = mt[i+shift-stateLen] ^ (y >> 1) ^ (-(y & 1) & matrixA)
		cur = next
	}
	y := (cur & upperMask) | (mt[0] & lowerMask)
	mt[stateLen-1] = mt[shift-1] ^ (y >> 1) ^ (-(y & 1) & matrixA)
}

// temper is MT19937's output transform of one state word.
func temper(y uint32) uint32 {
	y ^= y >> 11
	y ^= (y << 7) & 0x9d2c5680
	y ^= (y << 15) & 0xefc60000
	y ^= y >> 18
	return y
}

// packIndicesGo is the pure-Go packIndices. It is branch-free: every
// masked word is written to dst[j], and j advances only when the word is
// accepted (m < 2^31, so m-v has its top bit set exactly when v > m).
func packIndicesGo(dst []int32, src []uint32, m, mask uint32) (consumed, written int) {
	j := 0
	for consumed < len(src) && j < len(dst) {
		out := src[consumed:]
		if rest := len(dst) - j; len(out) > rest {
			// At least this many words are needed; never more than are left.
			out = out[:rest]
		}
		for _, y := range out {
			v := temper(y) & mask
			dst[j] = int32(v)
			j += int(1 ^ ((m - v) >> 31))
		}
		consumed += len(out)
	}
	return consumed, j
}

// Uint32 returns the next raw 32-bit output of the stream.
func (rs *RandomState) Uint32() uint32 {
	if rs.pos >= stateLen {
		twist(&rs.mt)
		rs.pos = 0
	}
	y := rs.mt[rs.pos]
	rs.pos++
	return temper(y)
}

// Interval returns a uniform integer in [0, max] drawn by numpy's masked
// rejection method. max == 0 returns 0 without consuming a draw. max must
// fit in 32 bits; larger ranges use 64-bit draws in numpy and are not
// supported (they panic).
func (rs *RandomState) Interval(max uint64) uint64 {
	if max == 0 {
		return 0
	}
	if max > 0xffffffff {
		panic("nprand: Interval above 2^32-1 is not supported")
	}
	m := uint32(max)
	mask := m
	mask |= mask >> 1
	mask |= mask >> 2
	mask |= mask >> 4
	mask |= mask >> 8
	mask |= mask >> 16
	for {
		if v := rs.Uint32() & mask; v <= m {
			return uint64(v)
		}
	}
}

// Indices fills dst with successive Interval(n-1) draws: the indices that
// numpy's legacy choice(a, len(dst), replace=True) picks from an array of
// length n (also randint(0, n, size=len(dst))). n must be in [1, 2^31].
func (rs *RandomState) Indices(dst []int32, n int) {
	if n < 1 || uint64(n-1) >= 1<<31 {
		panic("nprand: Indices needs 1 <= n <= 2^31")
	}
	m := uint32(n - 1)
	if m == 0 {
		clear(dst)
		return
	}
	mask := m
	mask |= mask >> 1
	mask |= mask >> 2
	mask |= mask >> 4
	mask |= mask >> 8
	mask |= mask >> 16
	pos, j := rs.pos, 0
	for j < len(dst) {
		if pos >= stateLen {
			twist(&rs.mt)
			pos = 0
		}
		c, w := packIndices(dst[j:], rs.mt[pos:], m, mask)
		pos += c
		j += w
	}
	rs.pos = pos
}

// Randint returns numpy's legacy randint(lo, hi): an integer in [lo, hi).
// It panics when hi <= lo, as numpy raises ValueError.
func (rs *RandomState) Randint(lo, hi int64) int64 {
	if hi <= lo {
		panic("nprand: Randint needs lo < hi")
	}
	return lo + int64(rs.Interval(uint64(hi-lo-1)))
}

// Choice returns k indices drawn with replacement from [0, n), like
// numpy's legacy choice(n, k, replace=True).
func (rs *RandomState) Choice(n, k int) []int {
	out := make([]int, k)
	for i := range out {
		out[i] = int(rs.Interval(uint64(n - 1)))
	}
	return out
}

// ChoiceNoReplace returns k distinct indices from [0, n), like numpy's
// legacy choice(n, k, replace=False) without p: the first k entries of
// Permutation(n). It panics when k > n.
func (rs *RandomState) ChoiceNoReplace(n, k int) []int {
	if k > n {
		panic("nprand: ChoiceNoReplace needs k <= n")
	}
	return rs.Permutation(n)[:k]
}

// Shuffle permutes a in place like numpy's legacy shuffle of a 1-D array.
func Shuffle[T any](rs *RandomState, a []T) {
	for i := len(a) - 1; i >= 1; i-- {
		j := rs.Interval(uint64(i))
		a[i], a[j] = a[j], a[i]
	}
}

// Permutation returns numpy's legacy permutation(n): 0..n-1 shuffled.
func (rs *RandomState) Permutation(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	Shuffle(rs, p)
	return p
}

// RandomSample returns numpy's legacy random_sample(): a double in [0, 1)
// built from two 32-bit outputs.
func (rs *RandomState) RandomSample() float64 {
	a := rs.Uint32() >> 5
	b := rs.Uint32() >> 6
	return (float64(a)*67108864.0 + float64(b)) / 9007199254740992.0
}

// Uniform returns numpy's legacy uniform(lo, hi).
func (rs *RandomState) Uniform(lo, hi float64) float64 {
	return lo + (hi-lo)*rs.RandomSample()
}
