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

// pairwiseRef is Pairwise with the pure-Go leaf and no block shortcut.
func pairwiseRef(a []float32) float32 {
	n := len(a)
	switch {
	case n < 8:
		var res float32
		for _, x := range a {
			res += x
		}
		return res
	case n <= 128:
		return pairwiseLeafGo(a)
	default:
		n2 := n / 2
		n2 -= n2 % 8
		return pairwiseRef(a[:n2]) + pairwiseRef(a[n2:])
	}
}

func TestBlock32MatchesRecursion(t *testing.T) {
	if !haveAVX2 {
		t.Skip("CPU without AVX2: only the pure-Go leaves run")
	}
	r := rand.New(rand.NewPCG(5, 6))
	a := make([]float32, BlockSize)
	for round := range 50 {
		for i := range a {
			a[i] = float32((r.Float64() - 0.5) * math.Pow(2, float64(r.IntN(40)-20)))
		}
		got, want := Pairwise(a), pairwiseRef(a)
		if math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("round %d: block %v, recursion %v", round, got, want)
		}
	}
}
