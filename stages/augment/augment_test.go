package augment

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/nnrunner/nnrunner/stages/dataloader"
)

// Spec Appendix B.7.
func TestInitialPatchSize(t *testing.T) {
	deg := func(d float64) float64 { return d / 360 * 2 * math.Pi }
	tests := []struct {
		patch []int
		rot   float64
		want  []int
	}{
		{[]int{40, 56, 40}, deg(30), []int{73, 80, 64}},
		{[]int{56, 40}, deg(180), []int{65, 65}},
		{[]int{64, 56}, deg(180), []int{75, 75}},
		{[]int{512, 128}, deg(15), []int{620, 150}},
	}
	for _, tc := range tests {
		if got := InitialPatchSize(tc.patch, tc.rot); !slices.Equal(got, tc.want) {
			t.Errorf("InitialPatchSize(%v, %v) = %v, want %v", tc.patch, tc.rot, got, tc.want)
		}
	}
	cfg, initial := Configure([3]int{16, 64, 56}, nil)
	if !cfg.Dummy2D || initial != [3]int{16, 75, 75} {
		t.Errorf("Configure([16 64 56]): dummy 2-D %v, initial %v; want true, [16 75 75]", cfg.Dummy2D, initial)
	}
	cfg, initial = Configure([3]int{40, 56, 40}, nil)
	if cfg.Dummy2D || initial != [3]int{73, 80, 64} || !slices.Equal(cfg.MirrorAxes, []int{0, 1, 2}) {
		t.Errorf("Configure([40 56 40]) = %+v, %v", cfg, initial)
	}
}

func TestBlurKernel(t *testing.T) {
	for _, tc := range []struct {
		sigma float64
		taps  int
	}{{0.5, 3}, {0.75, 5}, {1.0, 7}} {
		k := blurKernel(tc.sigma, nil)
		var s float64
		for _, w := range k {
			s += w
		}
		if len(k) != tc.taps || math.Abs(s-1) > 1e-12 || k[0] != k[len(k)-1] {
			t.Errorf("sigma %v: %d taps summing to %v (want %d, 1, symmetric)", tc.sigma, len(k), s, tc.taps)
		}
	}
}

func TestFlipIsAnInvolution(t *testing.T) {
	shape := [3]int{3, 4, 5}
	v := make([]int, 60)
	for i := range v {
		v[i] = i
	}
	for ax := range 3 {
		w := slices.Clone(v)
		Flip(w, shape, ax)
		if slices.Equal(w, v) {
			t.Errorf("axis %d: flip changed nothing", ax)
		}
		Flip(w, shape, ax)
		if !slices.Equal(w, v) {
			t.Errorf("axis %d: flipping twice is not the identity", ax)
		}
	}
	w := slices.Clone(v)
	Flip(w, shape, 2)
	if w[0] != 4 || w[4] != 0 {
		t.Errorf("axis 2 flip: row %v", w[:5])
	}
}

func testBatch(patch [3]int) *dataloader.Batch {
	b := dataloader.NewBatch(2, 2, patch)
	n := b.Voxels()
	for j := range 2 {
		for v := range n {
			x := v / (patch[1] * patch[2])
			b.Data[j*2*n+v] = float32(x)
			b.Data[j*2*n+n+v] = float32(v % 7)
			b.Seg[j*n+v] = int16(x%3) - 1 // −1, 0, 1
		}
	}
	return b
}

func TestTrainDeterministicAndValid(t *testing.T) {
	cfg, initial := Configure([3]int{8, 8, 8}, []bool{true, false})
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	in := testBatch(initial)
	run := func(seed uint64) *Output {
		out := NewOutput(2, 2, cfg.Patch)
		if err := a.Train(rand.New(rand.NewPCG(seed, 1)), in, out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for seed := range uint64(40) {
		o1, o2 := run(seed), run(seed)
		if !slices.Equal(o1.Data, o2.Data) || !slices.Equal(o1.Seg, o2.Seg) {
			t.Fatalf("seed %d: two runs differ", seed)
		}
		for _, s := range o1.Seg {
			if s != 0 && s != 1 {
				t.Fatalf("seed %d: label %v after augmentation, want 0 or 1", seed, s)
			}
		}
		for _, v := range o1.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("seed %d: non-finite intensity", seed)
			}
		}
	}
}

func TestValidationMasksAndMapsLabels(t *testing.T) {
	patch := [3]int{4, 4, 4}
	a, err := New(Config{Patch: patch, MaskChannel: []bool{true, false}})
	if err != nil {
		t.Fatal(err)
	}
	in := testBatch(patch)
	out := NewOutput(2, 2, patch)
	if err := a.Validation(in, out); err != nil {
		t.Fatal(err)
	}
	n := 64
	for j := range 2 {
		for v := range n {
			s := in.Seg[j*n+v]
			if want := float32(max(s, 0)); out.Seg[j*n+v] != want {
				t.Fatalf("seg %d became %v", s, out.Seg[j*n+v])
			}
			if s < 0 && out.Data[j*2*n+v] != 0 {
				t.Fatalf("masked channel not zeroed outside the nonzero region")
			}
			if out.Data[j*2*n+n+v] != in.Data[j*2*n+n+v] {
				t.Fatalf("unmasked channel changed")
			}
		}
	}
}

// TestStreamOrder: items arrive in index order whatever the workers'
// timing, and the number of live buffers stays bounded.
func TestStreamOrder(t *testing.T) {
	allocs := 0
	s := NewStream(context.Background(), 40, 4, 3, func() []int { allocs++; return make([]int, 1) },
		func(w, i int, item []int) error {
			time.Sleep(time.Duration((i*7919)%5) * time.Millisecond)
			item[0] = i
			return nil
		})
	defer s.Close()
	for i := range 40 {
		item, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if item[0] != i {
			t.Fatalf("item %d arrived as %d", item[0], i)
		}
		s.Release(item)
	}
	if _, err := s.Next(); err == nil {
		t.Error("Next after the last item: no error")
	}
	if allocs > 3+4 {
		t.Errorf("%d buffers allocated for a queue of 3", allocs)
	}
}

func TestStreamCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := NewStream(ctx, 10, 2, 2, func() []int { return nil }, func(w, i int, item []int) error {
		time.Sleep(time.Millisecond)
		return nil
	})
	cancel()
	time.Sleep(5 * time.Millisecond)
	for range 10 {
		if _, err := s.Next(); err != nil {
			s.Close()
			return
		}
	}
	t.Error("cancelled stream delivered every item")
}
