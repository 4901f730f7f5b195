package nprand

import (
	"math"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestUint32Seed1234(t *testing.T) {
	rs := New(1234)
	got := []uint32{rs.Uint32(), rs.Uint32(), rs.Uint32()}
	want := []uint32{822569775, 2137449171, 2671936806}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("first outputs (-want +got):\n%s", diff)
	}
}

// Vectors from Appendix B.1 of the spec (numpy 1.24 / sklearn 1.2).
func TestGoldenVectors(t *testing.T) {
	tests := []struct {
		name string
		got  func() []int
		want []int
	}{
		{"choice(arange(1000),5)", func() []int { return New(1234).Choice(1000, 5) }, []int{815, 723, 294, 53, 204}},
		{"choice(5000,5,replace=False)", func() []int { return New(1234).ChoiceNoReplace(5000, 5) }, []int{2706, 2436, 1201, 1486, 4286}},
		{"permutation(25)", func() []int { return New(1234).Permutation(25) },
			[]int{7, 16, 2, 3, 1, 18, 5, 4, 0, 8, 13, 22, 10, 23, 20, 14, 11, 9, 17, 24, 12, 21, 6, 19, 15}},
		{"KFold shuffle 9 items seed 12345", func() []int {
			a := []int{0, 1, 2, 3, 4, 5, 6, 7, 8}
			Shuffle(New(12345), a)
			return a
		}, []int{3, 0, 8, 6, 4, 1, 7, 5, 2}},
		{"choice(9,7,replace=False) seed 12350", func() []int { return New(12350).ChoiceNoReplace(9, 7) }, []int{0, 7, 4, 5, 3, 8, 6}},
		{"fingerprint-style two channels", func() []int {
			rs := New(1234)
			ch0 := make([]int32, 5)
			ch1 := make([]int32, 5)
			rs.Indices(ch0, 10)
			rs.Indices(ch1, 10)
			out := []int{}
			for _, v := range ch0 {
				out = append(out, int(v))
			}
			for _, v := range ch1 {
				out = append(out, 100+int(v))
			}
			return out
		}, []int{3, 6, 5, 4, 8, 109, 101, 107, 109, 106}},
		{"randint(0,1) consumes nothing", func() []int {
			rs := New(1234)
			a := int(rs.Randint(0, 1))
			return []int{a, int(rs.Uint32())}
		}, []int{0, 822569775}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.got()); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestRandomSample(t *testing.T) {
	rs := New(1234)
	got := []float64{rs.RandomSample(), rs.RandomSample()}
	want := []float64{0.1915194503788923, 0.6221087710398319}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func TestIndicesMatchesChoice(t *testing.T) {
	// Lengths around multiples of 8 and past the 624-word state; the
	// draws are split over calls of different sizes.
	for _, n := range []int{1, 2, 3, 7, 8, 9, 1000, 3001, 65537, 1<<30 + 1, math.MaxInt32} {
		for _, parts := range [][]int{{300}, {1, 7, 8, 9, 15, 1000, 3}, {2000}} {
			total := 0
			for _, p := range parts {
				total += p
			}
			want := New(99).Choice(n, total)
			rs := New(99)
			var got []int
			for _, p := range parts {
				idx := make([]int32, p)
				rs.Indices(idx, n)
				for _, v := range idx {
					got = append(got, int(v))
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("n=%d parts %v: Indices differ from Choice (-want +got):\n%s", n, parts, diff)
			}
			for i, v := range got {
				if v < 0 || v >= n {
					t.Fatalf("n=%d: index %d = %d out of range", n, i, v)
				}
			}
			ref := New(99)
			ref.Choice(n, total)
			if a, b := ref.Uint32(), rs.Uint32(); a != b {
				t.Fatalf("n=%d parts %v: next output after Indices %d, after Choice %d", n, parts, b, a)
			}
		}
	}
}

func TestPermutationIsPermutation(t *testing.T) {
	p := New(7).Permutation(1000)
	sort.Ints(p)
	for i, v := range p {
		if v != i {
			t.Fatalf("sorted permutation[%d] = %d", i, v)
		}
	}
}

func BenchmarkIndices(b *testing.B) {
	rs := New(1234)
	dst := make([]int32, 1<<20)
	b.SetBytes(int64(len(dst)) * 4)
	for b.Loop() {
		rs.Indices(dst, 3000)
	}
}
