//go:build amd64

package fingerprint

import (
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestGatherAsmMatchesGo(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	table := make([]float32, 3001)
	for i := range table {
		table[i] = r.Float32()
	}
	for _, n := range []int{0, 1, 7, 8, 9, 63, 64, 8192} {
		ix := make([]int32, n)
		for i := range ix {
			ix[i] = int32(r.IntN(len(table)))
		}
		copy(ix, []int32{0, int32(len(table) - 1)}) // both ends of the table
		want, got := make([]float32, n), make([]float32, n)
		gatherGo(want, table, ix)
		gather32(got, table, ix)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("n=%d gather (-go +asm):\n%s", n, diff)
		}
		wantCounts, gotCounts := make([]int32, len(table)), make([]int32, len(table))
		clear(got)
		gatherCountGo(want, table, wantCounts, ix)
		gatherCount32(got, table, gotCounts, ix)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("n=%d gatherCount values (-go +asm):\n%s", n, diff)
		}
		if diff := cmp.Diff(wantCounts, gotCounts); diff != "" {
			t.Fatalf("n=%d gatherCount counts (-go +asm):\n%s", n, diff)
		}
	}
}
