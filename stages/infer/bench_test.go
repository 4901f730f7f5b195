package infer

import (
	"context"
	"testing"
)

// BenchmarkSlidingWindowOverhead times tiling, mirroring and aggregation
// alone (the tile function only copies) for a 3-class prediction of a
// 64×96×80 volume with 40×56×40 patches: 4×3×3 tiles × 8 mirrorings.
func BenchmarkSlidingWindowOverhead(b *testing.B) {
	shape := [4]int{1, 64, 96, 80}
	patch := [3]int{40, 56, 40}
	data := make([]float32, shape[1]*shape[2]*shape[3])
	np := patch[0] * patch[1] * patch[2]
	tile := func(x, dst []float32) error {
		for k := range 3 {
			copy(dst[k*np:(k+1)*np], x)
		}
		return nil
	}
	opt := Options{Patch: patch, Classes: 3, Gaussian: true, MirrorAxes: []int{0, 1, 2}}
	for range b.N {
		if _, err := SlidingWindow(context.Background(), data, shape, opt, tile); err != nil {
			b.Fatal(err)
		}
	}
}
