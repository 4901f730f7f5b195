package dataloader

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestBounds(t *testing.T) {
	tests := []struct {
		size, p, final int
		lb, ub         int
	}{
		{50, 40, 40, 0, 10},    // validation: no enlargement
		{50, 73, 40, -17, -6},  // need 33: (-33)//2 = -17
		{20, 73, 40, -27, -26}, // need raised to P−S = 53
		{40, 40, 40, 0, 0},
		{30, 40, 40, -5, -5}, // image smaller than the patch
	}
	for _, tc := range tests {
		lb, ub := Bounds(tc.size, tc.p, tc.final)
		if lb != tc.lb || ub != tc.ub {
			t.Errorf("Bounds(%d, %d, %d) = %d, %d; want %d, %d", tc.size, tc.p, tc.final, lb, ub, tc.lb, tc.ub)
		}
	}
}

func TestForceForeground(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want []int
	}{{1, nil}, {2, []int{1}}, {9, []int{6, 7, 8}}, {3, []int{2}}} {
		var got []int
		for j := range tc.n {
			if ForceForeground(j, tc.n) {
				got = append(got, j)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("batch %d: forced samples %v, want %v", tc.n, got, tc.want)
		}
	}
}

// testCase is a (1, 8, 9, 10) case with voxel value = flat index and one
// foreground voxel at (7, 8, 9).
func testCase() *Case {
	c := &Case{ID: "c", Shape: [4]int{1, 8, 9, 10}}
	n := c.Voxels()
	c.Data = make([]float32, n)
	c.Seg = make([]int16, n)
	for i := range c.Data {
		c.Data[i] = float32(i)
	}
	c.Seg[(7*9+8)*10+9] = 1
	c.Classes = []Locations{{Key: "1", Coords: [][3]int{{7, 8, 9}}}}
	return c
}

func TestSampleCropAndForeground(t *testing.T) {
	c := testCase()
	patch := [3]int{6, 6, 6}
	s, err := NewSampler([]*Case{c}, 2, patch, [3]int{4, 4, 4})
	if err != nil {
		t.Fatal(err)
	}
	b := s.NewBatch()
	n := b.Voxels()
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 0))
		s.Sample(rng, b)
		for j := range 2 {
			data, seg := b.Data[j*n:(j+1)*n], b.Seg[j*n:(j+1)*n]
			if j == 1 && !slices.Contains(seg, 1) {
				t.Fatalf("seed %d: forced sample has no foreground", seed)
			}
			// Every non-padded voxel must hold its source index; padded
			// ones 0 / −1. The source position is recovered from the value.
			for v := range n {
				if seg[v] == -1 {
					if data[v] != 0 {
						t.Fatalf("seed %d sample %d: padded voxel %d holds %v", seed, j, v, data[v])
					}
					continue
				}
				src := int(data[v])
				if c.Seg[src] != seg[v] {
					t.Fatalf("seed %d sample %d: voxel %d: seg %d, source %d", seed, j, v, seg[v], c.Seg[src])
				}
			}
		}
	}
}

func TestNewSamplerErrors(t *testing.T) {
	c := testCase()
	if _, err := NewSampler(nil, 2, [3]int{4, 4, 4}, [3]int{4, 4, 4}); err == nil {
		t.Error("no cases: no error")
	}
	if _, err := NewSampler([]*Case{c}, 2, [3]int{4, 4, 4}, [3]int{5, 4, 4}); err == nil {
		t.Error("sampling patch smaller than the network patch: no error")
	}
}
