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

// ChannelRange is the inverse of ConcatChannels for one part: it copies
// channels [lo, lo+c) of src, (n, total, spatial), into dst, (n, c,
// spatial), where c = len(dst)/(n·spatial).
func ChannelRange[T Float](n, spatial, lo int, src, dst []T) {
	if n*spatial == 0 || len(dst)%(n*spatial) != 0 || len(src)%(n*spatial) != 0 {
		panic(fmt.Sprintf("kernels: channel range: lengths %d and %d are not multiples of n·spatial = %d", len(dst), len(src), n*spatial))
	}
	c, total := len(dst)/(n*spatial), len(src)/(n*spatial)
	if lo < 0 || lo+c > total {
		panic(fmt.Sprintf("kernels: channel range [%d, %d) outside %d channels", lo, lo+c, total))
	}
	parallelFor(n*c, max(1, 1<<14/spatial), func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			b, ch := i/c, i%c
			copy(dst[i*spatial:(i+1)*spatial], src[(b*total+lo+ch)*spatial:][:spatial])
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
