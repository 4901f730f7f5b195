package kernels

import "fmt"

// ConcatChannels writes the tensors srcs, each (n, c_i, spatial), one after
// another along the channel axis into dst, (n, Σc_i, spatial). Each c_i is
// len(srcs[i]) / (n·spatial).
func ConcatChannels[T Float](n, spatial int, dst []T, srcs ...[]T) {
	off := channelOffsets("concat source", n, spatial, len(dst), srcs)
	total := off[len(srcs)]
	parallelFor(n*len(srcs), 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			b, s := i/len(srcs), i%len(srcs)
			ci := off[s+1] - off[s]
			copy(dst[(b*total+off[s])*spatial:(b*total+off[s+1])*spatial], srcs[s][b*ci*spatial:(b+1)*ci*spatial])
		}
	})
}

// SplitChannels is the inverse of ConcatChannels: it copies consecutive
// channel ranges of src, (n, Σc_i, spatial), into dsts, each (n, c_i,
// spatial).
func SplitChannels[T Float](n, spatial int, src []T, dsts ...[]T) {
	off := channelOffsets("split destination", n, spatial, len(src), dsts)
	total := off[len(dsts)]
	parallelFor(n*len(dsts), 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			b, s := i/len(dsts), i%len(dsts)
			ci := off[s+1] - off[s]
			copy(dsts[s][b*ci*spatial:(b+1)*ci*spatial], src[(b*total+off[s])*spatial:(b*total+off[s+1])*spatial])
		}
	})
}

// channelOffsets returns the first channel of each part within the whole and,
// last, the total channel count; it panics on inconsistent lengths.
func channelOffsets[T Float](what string, n, spatial, whole int, parts [][]T) []int {
	off := make([]int, len(parts)+1)
	for i, p := range parts {
		if n*spatial == 0 || len(p)%(n*spatial) != 0 {
			panic(fmt.Sprintf("kernels: %s %d has length %d, not a multiple of n·spatial = %d", what, i, len(p), n*spatial))
		}
		off[i+1] = off[i] + len(p)/(n*spatial)
	}
	if want := off[len(parts)] * n * spatial; whole != want {
		panic(fmt.Sprintf("kernels: concatenated tensor has length %d, want %d", whole, want))
	}
	return off
}
