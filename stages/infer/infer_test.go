package infer

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
)

// Spec Appendix B.7.
func TestSteps(t *testing.T) {
	size, patch := []int{110, 64, 200}, []int{64, 64, 96}
	want := [][]int{{0, 23, 46}, {0}, {0, 35, 69, 104}}
	for i := range size {
		if got := Steps(size[i], patch[i], 0.5); !slices.Equal(got, want[i]) {
			t.Errorf("Steps(%d, %d) = %v, want %v", size[i], patch[i], got, want[i])
		}
	}
	if got := Steps(30, 40, 0.5); !slices.Equal(got, []int{0}) {
		t.Errorf("image smaller than the patch: %v", got)
	}
}

func TestGaussianMap(t *testing.T) {
	p := [3]int{8, 12, 10}
	g := GaussianMap(p, SigmaScale)
	at := func(x, y, z int) float32 { return g[(x*p[1]+y)*p[2]+z] }
	if c := at(4, 6, 5); c != GaussianPeak {
		t.Errorf("centre %v, want %v", c, GaussianPeak)
	}
	for _, v := range g {
		if !(v > 0) || v > GaussianPeak {
			t.Fatalf("value %v outside (0, %v]", v, GaussianPeak)
		}
		if float16(float64(v)) != v {
			t.Fatalf("value %v is not a float16", v)
		}
	}
	// Symmetric about the centre along axis 1 (patch//2 = 6: 5 and 7).
	if at(4, 5, 5) != at(4, 7, 5) {
		t.Errorf("not symmetric: %v vs %v", at(4, 5, 5), at(4, 7, 5))
	}
}

func TestFloat16(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want float32
	}{{1, 1}, {10, 10}, {1 + 1.0/2048, 1}, {1 + 3.0/2048, 1 + 2.0/1024}, {1e-8, 0}, {6e-8, 5.9604645e-08}} {
		if got := float16(tc.in); got != tc.want {
			t.Errorf("float16(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestSlidingWindowReproducesEquivariantTiles: with a tile function that
// maps each voxel to (x, −x), any tiling, weighting and mirroring must give
// back exactly the input; a missing flip-back or a wrong offset would not.
func TestSlidingWindowReproducesEquivariantTiles(t *testing.T) {
	tests := []struct {
		shape  [4]int
		patch  [3]int
		mirror []int
	}{
		{[4]int{1, 13, 9, 11}, [3]int{8, 8, 8}, []int{0, 1, 2}},
		{[4]int{2, 5, 9, 16}, [3]int{8, 4, 8}, []int{1}}, // padding on axis 0
		{[4]int{1, 8, 8, 8}, [3]int{8, 8, 8}, nil},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.shape, tc.patch), func(t *testing.T) {
			n := tc.shape[1] * tc.shape[2] * tc.shape[3]
			data := make([]float32, tc.shape[0]*n)
			for i := range data {
				data[i] = float32(i%97) / 8
			}
			np := tc.patch[0] * tc.patch[1] * tc.patch[2]
			calls := 0
			tile := func(x, dst []float32) error {
				calls++
				copy(dst[:np], x[:np])
				for i := range np {
					dst[np+i] = -x[i]
				}
				return nil
			}
			out, err := SlidingWindow(context.Background(), data, tc.shape,
				Options{Patch: tc.patch, Classes: 2, Gaussian: true, MirrorAxes: tc.mirror}, tile)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				if math.Abs(float64(out[i]-data[i])) > 1e-5 || math.Abs(float64(out[n+i]+data[i])) > 1e-5 {
					t.Fatalf("voxel %d: %v, %v; want %v, %v", i, out[i], out[n+i], data[i], -data[i])
				}
			}
			tiles := 1
			for a := range 3 {
				tiles *= len(Steps(max(tc.shape[a+1], tc.patch[a]), tc.patch[a], StepSize))
			}
			if want := tiles << len(tc.mirror); calls != want {
				t.Errorf("%d tile calls, want %d", calls, want)
			}
		})
	}
}

func TestArgmax(t *testing.T) {
	logits := []float32{1, 5, 2, 2, 3, 5, 4, 2} // (2 classes, 4 voxels); voxel 1 and 3 tie
	if got := Argmax(logits, 2); !slices.Equal(got, []int16{1, 0, 1, 0}) {
		t.Errorf("Argmax = %v", got)
	}
}
