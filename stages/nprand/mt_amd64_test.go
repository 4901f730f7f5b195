//go:build amd64

package nprand

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTwistAVX2MatchesGo(t *testing.T) {
	if !haveAVX2 {
		t.Skip("CPU without AVX2: only the pure-Go twist runs")
	}
	for _, seed := range []uint32{0, 1, 1234, 0xffffffff} {
		rs := New(seed)
		for round := range 3 {
			want := rs.mt
			twistGo(&want)
			twist(&rs.mt)
			if diff := cmp.Diff(want, rs.mt); diff != "" {
				t.Fatalf("seed %d round %d (-go +avx2):\n%s", seed, round, diff)
			}
		}
	}
}

func TestPackAVX2MatchesGo(t *testing.T) {
	if !haveAVX2 {
		t.Skip("CPU without AVX2: only the pure-Go packing runs")
	}
	rs := New(42)
	src := make([]uint32, 624)
	for i := range src {
		src[i] = rs.Uint32()
	}
	for _, m := range []uint32{1, 2, 3, 7, 8, 999, 2999, 65535, 65536, 1<<30 + 5, 1<<31 - 1} {
		mask := m
		for s := uint(1); s < 32; s *= 2 {
			mask |= mask >> s
		}
		for _, srcLen := range []int{0, 1, 7, 8, 9, 16, 100, 624} {
			for _, dstLen := range []int{0, 1, 7, 8, 9, 15, 16, 17, 300, 1000} {
				want := make([]int32, dstLen)
				wc, ww := packIndicesGo(want, src[:srcLen], m, mask)
				got := make([]int32, dstLen)
				gc, gw := packIndices(got, src[:srcLen], m, mask)
				if gc != wc || gw != ww {
					t.Fatalf("m=%d src %d dst %d: consumed, written = %d, %d; want %d, %d", m, srcLen, dstLen, gc, gw, wc, ww)
				}
				if diff := cmp.Diff(want[:ww], got[:gw]); diff != "" {
					t.Fatalf("m=%d src %d dst %d (-go +avx2):\n%s", m, srcLen, dstLen, diff)
				}
			}
		}
	}
}
