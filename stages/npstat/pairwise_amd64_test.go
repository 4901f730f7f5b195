//go:build amd64

package npstat

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestLeaf32AVX2MatchesGo(t *testing.T) {
	if !haveAVX2 {
		t.Skip("CPU without AVX2: only the pure-Go leaf sum runs")
	}
	r := rand.New(rand.NewPCG(1, 2))
	a := make([]float32, 128)
	for round := range 200 {
		for i := range a {
			// Wide exponents and both signs, so that a different
			// association order would show in the rounding.
			a[i] = float32((r.Float64() - 0.5) * math.Pow(2, float64(r.IntN(40)-20)))
		}
		for n := 8; n <= len(a); n++ {
			got, want := leaf32AVX2(a[:n]), pairwiseLeafGo(a[:n])
			if math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("round %d n=%d: AVX2 %v, Go %v", round, n, got, want)
			}
		}
	}
}
