package augment

import (
	"math/rand/v2"
	"testing"

	"github.com/nnrunner/nnrunner/stages/dataloader"
)

// BenchmarkTrainHippocampusBatch augments one Hippocampus-sized batch
// (9 × 1 channel, 73×80×64 → 40×56×40) on one goroutine.
func BenchmarkTrainHippocampusBatch(b *testing.B) {
	cfg, initial := Configure([3]int{40, 56, 40}, []bool{false})
	a, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	in := dataloader.NewBatch(9, 1, initial)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range in.Data {
		in.Data[i] = float32(rng.NormFloat64())
		in.Seg[i] = int16(rng.IntN(3))
	}
	out := NewOutput(9, 1, cfg.Patch)
	b.ResetTimer()
	for i := range b.N {
		if err := a.Train(rand.New(rand.NewPCG(uint64(i), 0)), in, out); err != nil {
			b.Fatal(err)
		}
	}
}
