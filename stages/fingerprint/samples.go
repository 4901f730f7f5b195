package fingerprint

import (
	"context"
	"math"

	"github.com/nnrunner/nnrunner/stages/nprand"
	"github.com/nnrunner/nnrunner/stages/npstat"
)

// sampleSet is the pooled sample vector of every channel: the
// concatenation, in case order, of n draws per case with foreground, in
// dtype T (float32, or float64 when upstream's concatenation promotes). It
// is never materialised; numpy's block-wise reductions are rebuilt block
// by block, in parallel over cases, with results stored by block index.
type sampleSet[T npstat.Float] struct {
	cases   []*caseData
	nch     int
	n       int   // draws per case and channel
	offset  []int // start of each case's draws in the pooled vector; -1 without foreground
	total   int
	nblocks int
	// shared holds, per block that is not inside one case, its values per
	// channel, assembled from the cases it spans.
	shared map[int][][]T
}

func newSampleSet[T npstat.Float](cases []*caseData, nch, n int) *sampleSet[T] {
	s := &sampleSet[T]{cases: cases, nch: nch, n: n, offset: make([]int, len(cases))}
	for i, c := range cases {
		s.offset[i] = -1
		if c.nfg > 0 {
			s.offset[i] = s.total
			s.total += n
		}
	}
	s.nblocks = (s.total + npstat.BlockSize - 1) / npstat.BlockSize
	s.shared = make(map[int][][]T)
	for _, off := range s.offset {
		if off < 0 {
			continue
		}
		for _, k := range []int{off / npstat.BlockSize, (off + n - 1) / npstat.BlockSize} {
			start := k * npstat.BlockSize
			if start >= off && start+s.blockLen(k) <= off+n {
				continue
			}
			if _, ok := s.shared[k]; !ok {
				bufs := make([][]T, nch)
				for ch := range bufs {
					bufs[ch] = make([]T, s.blockLen(k))
				}
				s.shared[k] = bufs
			}
		}
	}
	return s
}

// blockLen returns the length of block k of the pooled vector.
func (s *sampleSet[T]) blockLen(k int) int {
	return min((k+1)*npstat.BlockSize, s.total) - k*npstat.BlockSize
}

// draws is what the second pass needs of one case's draws of one channel
// that are not materialised. The draws are replayed from the generator
// state: regenerating them costs less than storing and reloading them.
type draws struct {
	state  nprand.RandomState // generator state at the channel's first draw
	counts []int32            // how often each foreground voxel was drawn
}

// runs calls emit for consecutive runs of the case's draw positions that
// never cross a block boundary: pos is the position in the pooled vector,
// p the position within the case's draws, n the run length.
func (s *sampleSet[T]) runs(ci int, emit func(pos, p, n int)) {
	off := s.offset[ci]
	for p := 0; p < s.n; {
		g := off + p
		n := min((g/npstat.BlockSize+1)*npstat.BlockSize-g, s.n-p)
		emit(g, p, n)
		p += n
	}
}

// putBlock stores the pairwise sum of a whole block, or copies part of a
// shared block into its buffer. Cases write disjoint ranges and the map
// is read-only here, so no locking is needed.
func (s *sampleSet[T]) putBlock(sums []T, ch, pos int, vals []T) {
	k := pos / npstat.BlockSize
	if bufs, ok := s.shared[k]; ok {
		copy(bufs[ch][pos-k*npstat.BlockSize:], vals)
		return
	}
	sums[k] = npstat.Pairwise(vals)
}

// reduce finishes the shared blocks and accumulates the block sums in
// order, as numpy's buffered reduction does.
func (s *sampleSet[T]) reduce(sums []T, ch int) T {
	for k, bufs := range s.shared {
		sums[k] = npstat.Pairwise(bufs[ch])
	}
	var acc T
	for _, b := range sums {
		acc += b
	}
	return acc
}

// stats computes every channel's statistics in two passes over the draws:
// block sums of the values (mean) with draw counts (order statistics),
// then block sums of the squared deviations from the mean (std), all in T.
func (s *sampleSet[T]) stats(ctx context.Context, threads int) ([]ChannelStats, error) {
	sums := make([][]T, s.nch)
	for ch := range sums {
		sums[ch] = make([]T, s.nblocks)
	}
	dr := make([][]draws, len(s.cases))
	err := parallel(ctx, len(s.cases), threads, func(ci int) error {
		c := s.cases[ci]
		if c.nfg == 0 {
			return nil
		}
		vals := make([]T, npstat.BlockSize)
		if c.samples != nil {
			for ch := range s.nch {
				s.runs(ci, func(pos, p, n int) {
					v := vals[:n]
					for k, x := range c.samples[ch][p : p+n] {
						v[k] = T(x)
					}
					s.putBlock(sums[ch], ch, pos, v)
				})
			}
			return nil
		}
		d := make([]draws, s.nch)
		rs := nprand.New(sampleSeed)
		idx := make([]int32, npstat.BlockSize)
		for ch := range s.nch {
			dc := &d[ch]
			dc.state = *rs
			dc.counts = make([]int32, c.nfg)
			fg, counts := c.fg[ch], dc.counts
			s.runs(ci, func(pos, p, n int) {
				ix, v := idx[:n], vals[:n]
				rs.Indices(ix, c.nfg)
				gatherCount(v, fg, counts, ix)
				s.putBlock(sums[ch], ch, pos, v)
			})
		}
		dr[ci] = d
		return nil
	})
	if err != nil {
		return nil, err
	}
	means := make([]T, s.nch)
	for ch := range s.nch {
		means[ch] = s.reduce(sums[ch], ch) / T(s.total)
		clear(sums[ch])
	}

	// orders[ch][ci] holds the sorted draws of case ci, channel ch, built
	// in parallel with the second pass.
	orders := make([][]caseOrder, s.nch)
	for ch := range orders {
		orders[ch] = make([]caseOrder, len(s.cases))
	}
	err = parallel(ctx, len(s.cases)*s.nch, threads, func(job int) error {
		ci, ch := job/s.nch, job%s.nch
		c := s.cases[ci]
		if c.nfg == 0 {
			return nil
		}
		if c.samples != nil {
			orders[ch][ci] = newCaseOrder(c.samples[ch], nil)
		} else {
			orders[ch][ci] = newCaseOrder(c.fg[ch], dr[ci][ch].counts)
		}
		m := means[ch]
		sq := func(x float32) T {
			v := T(x) - m
			return T(v * v) // conversion: no fused multiply-add
		}
		vals := make([]T, npstat.BlockSize)
		if c.samples != nil {
			s.runs(ci, func(pos, p, n int) {
				v := vals[:n]
				for k, x := range c.samples[ch][p : p+n] {
					v[k] = sq(x)
				}
				s.putBlock(sums[ch], ch, pos, v)
			})
			return nil
		}
		// Squared deviations depend only on the drawn voxel.
		dev := make([]T, c.nfg)
		for j, x := range c.fg[ch] {
			dev[j] = sq(x)
		}
		rs := dr[ci][ch].state
		idx := make([]int32, npstat.BlockSize)
		s.runs(ci, func(pos, p, n int) {
			ix, v := idx[:n], vals[:n]
			rs.Indices(ix, c.nfg)
			gather(v, dev, ix)
			s.putBlock(sums[ch], ch, pos, v)
		})
		return nil
	})
	if err != nil {
		return nil, err
	}

	out := make([]ChannelStats, s.nch)
	for ch := range s.nch {
		variance := s.reduce(sums[ch], ch) / T(s.total)
		os := orderStatsT[T]{orders[ch]}
		out[ch] = ChannelStats{
			Max:           float64(os.at(s.total - 1)),
			Mean:          float64(means[ch]),
			Median:        npstat.PercentileFunc(s.total, 50, os.atT),
			Min:           float64(os.at(0)),
			Percentile005: npstat.PercentileFunc(s.total, 0.5, os.atT),
			Percentile995: npstat.PercentileFunc(s.total, 99.5, os.atT),
			Std:           float64(npstat.Sqrt(variance)),
		}
	}
	return out, nil
}

// caseOrder is one case's draws of one channel in order: the sorted
// distinct order keys (sortKey) of the drawn values and, for each, the
// number of draws with a key at or below it.
type caseOrder struct {
	keys []uint32
	cum  []int64
}

// newCaseOrder sorts the values drawn counts[j] times each (once each when
// counts is nil). Each (key, count) is packed into one uint64 (key high,
// count low) and sorted by key.
func newCaseOrder(vals []float32, counts []int32) caseOrder {
	packed := make([]uint64, 0, len(vals))
	for j, v := range vals {
		n := uint32(1)
		if counts != nil {
			n = uint32(counts[j])
		}
		if n > 0 {
			packed = append(packed, uint64(sortKey(v))<<32|uint64(n))
		}
	}
	sortByKey(packed)
	var o caseOrder
	var run int64
	for i, p := range packed {
		run += int64(uint32(p))
		key := uint32(p >> 32)
		if i > 0 && uint32(packed[i-1]>>32) == key {
			o.cum[len(o.cum)-1] = run
			continue
		}
		o.keys = append(o.keys, key)
		o.cum = append(o.cum, run)
	}
	return o
}

// sortByKey sorts packed by the order key in its high 32 bits with a
// least-significant-byte-first radix sort (equal keys may come in any
// order; newCaseOrder adds up their counts). Passes over a byte that all
// entries share are skipped.
func sortByKey(packed []uint64) {
	if len(packed) < 2 {
		return
	}
	src, dst := packed, make([]uint64, len(packed))
	for shift := 32; shift < 64; shift += 8 {
		var start [256]int
		for _, p := range src {
			start[byte(p>>shift)]++
		}
		if start[byte(src[0]>>shift)] == len(src) {
			continue
		}
		pos := 0
		for b, n := range start {
			start[b] = pos
			pos += n
		}
		for _, p := range src {
			b := byte(p >> shift)
			dst[start[b]] = p
			start[b]++
		}
		src, dst = dst, src
	}
	if &src[0] != &packed[0] {
		copy(packed, src)
	}
}

// orderStatistics answers "the i-th smallest pooled sample" from the
// cases' sorted draws, without merging them: it bisects the key space
// for the smallest key with more than i draws at or below it.
type orderStatistics []caseOrder

// countLE returns the number of pooled draws with an order key <= k.
func (o orderStatistics) countLE(k uint32) int64 {
	var n int64
	for _, c := range o {
		// i = number of keys <= k.
		i, j := 0, len(c.keys)
		for i < j {
			h := int(uint(i+j) >> 1)
			if c.keys[h] <= k {
				i = h + 1
			} else {
				j = h
			}
		}
		if i > 0 {
			n += c.cum[i-1]
		}
	}
	return n
}

// at returns the i-th smallest pooled draw (0 <= i < total draws).
func (o orderStatistics) at(i int) float32 {
	lo, hi := uint64(0), uint64(math.MaxUint32)
	for lo < hi {
		mid := uint32((lo + hi) / 2)
		if o.countLE(mid) > int64(i) {
			hi = uint64(mid)
		} else {
			lo = uint64(mid) + 1
		}
	}
	return fromSortKey(uint32(lo))
}

// orderStatsT reads order statistics in the pooled dtype T.
type orderStatsT[T npstat.Float] struct{ orderStatistics }

func (o orderStatsT[T]) atT(i int) T { return T(o.at(i)) }

// sortKey maps a float32 to a uint32 with the same order (NaN last, as
// numpy sorts).
func sortKey(v float32) uint32 {
	b := math.Float32bits(v)
	if b>>31 == 1 {
		return ^b
	}
	return b | 1<<31
}

func fromSortKey(k uint32) float32 {
	if k>>31 == 1 {
		return math.Float32frombits(k &^ (1 << 31))
	}
	return math.Float32frombits(^k)
}
