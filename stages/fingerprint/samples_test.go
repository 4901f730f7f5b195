package fingerprint

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSortByKey(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct {
		name string
		n    int
		key  func() uint32
	}{
		{"empty", 0, r.Uint32},
		{"one", 1, r.Uint32},
		{"random keys", 5000, r.Uint32},
		{"shared high bytes", 3000, func() uint32 { return 0xc1230000 | r.Uint32()&0xffff }},
		{"few distinct keys", 2000, func() uint32 { return uint32(r.IntN(5)) << 24 }},
		{"all equal", 100, func() uint32 { return 42 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			packed := make([]uint64, tc.n)
			for i := range packed {
				packed[i] = uint64(tc.key())<<32 | uint64(i)
			}
			want := slices.Clone(packed)
			slices.Sort(want)
			sortByKey(packed)
			keys := func(a []uint64) []uint32 {
				k := make([]uint32, len(a))
				for i, p := range a {
					k[i] = uint32(p >> 32)
				}
				return k
			}
			if diff := cmp.Diff(keys(want), keys(packed)); diff != "" {
				t.Fatalf("keys (-want +got):\n%s", diff)
			}
			// Same entries: sorting both fully must agree.
			slices.Sort(packed)
			if diff := cmp.Diff(want, packed); diff != "" {
				t.Fatalf("entries (-want +got):\n%s", diff)
			}
		})
	}
}
