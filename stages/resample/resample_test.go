package resample

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSeparateAxis(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name      string
		cur, tgt  [3]float64
		force     *bool
		wantAxis  int
		wantSepZ  bool
		threshold float64
	}{
		{"isotropic", [3]float64{1, 1, 1}, [3]float64{1, 1, 1}, nil, 0, false, 0},
		{"thick first axis", [3]float64{3.2, 0.85, 0.85}, [3]float64{3, 0.8, 0.8}, nil, 0, true, 0},
		{"ratio exactly 3 is not anisotropic", [3]float64{3, 1, 1}, [3]float64{3, 1, 1}, nil, 0, false, 0},
		{"thick last axis", [3]float64{1, 1, 5}, [3]float64{1, 1, 1}, nil, 2, true, 0},
		{"target decides", [3]float64{1, 1, 2}, [3]float64{1, 1, 4}, nil, 2, true, 0},
		{"two thick axes", [3]float64{4, 4, 1}, [3]float64{1, 1, 1}, nil, 0, false, 0},
		{"forced on", [3]float64{1, 2, 1}, [3]float64{1, 1, 1}, &yes, 1, true, 0},
		{"forced off", [3]float64{5, 1, 1}, [3]float64{1, 1, 1}, &no, 0, false, 0},
		{"custom threshold", [3]float64{2.5, 1, 1}, [3]float64{1, 1, 1}, nil, 0, true, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			axis, sep := SeparateAxis(tc.cur, tc.tgt, tc.force, tc.threshold)
			if sep != tc.wantSepZ || (sep && axis != tc.wantAxis) {
				t.Errorf("got axis %d separate %v, want axis %d separate %v", axis, sep, tc.wantAxis, tc.wantSepZ)
			}
		})
	}
}

// ramp returns a volume whose value is the index along axis.
func ramp(s Shape, axis int) []float32 {
	v := make([]float32, s.Len())
	for x := 0; x < s[0]; x++ {
		for y := 0; y < s[1]; y++ {
			for z := 0; z < s[2]; z++ {
				v[(x*s[1]+y)*s[2]+z] = float32([3]int{x, y, z}[axis])
			}
		}
	}
	return v
}

// TestInterpolatesRamp checks that order 1 and order 3 reproduce a linear
// ramp at (o+0.5)*in/out-0.5 along every axis (order 3 away from the edges,
// where edge padding bends the spline; order 1 clamps at the edges).
func TestInterpolatesRamp(t *testing.T) {
	iso := [3]float64{1, 1, 1}
	for _, order := range []int{1, 3} {
		for axis := 0; axis < 3; axis++ {
			in, out := Shape{3, 3, 3}, Shape{3, 3, 3}
			in[axis], out[axis] = 40, 61
			src := ramp(in, axis)
			dst := make([]float32, out.Len())
			if err := Data(dst, out, src, in, iso, iso, Options{Order: order}); err != nil {
				t.Fatal(err)
			}
			for o := 0; o < out[axis]; o++ {
				c := (float64(o)+0.5)*40/61 - 0.5
				if order == 3 && (c < 10 || c > 29) {
					continue
				}
				want := math.Min(math.Max(c, 0), 39)
				var idx [3]int
				idx[axis] = o
				got := dst[(idx[0]*out[1]+idx[1])*out[2]+idx[2]]
				if math.Abs(float64(got)-want) > 1e-5 {
					t.Errorf("order %d axis %d: output %d = %v, want %v", order, axis, o, got, want)
				}
			}
		}
	}
}

// TestClipsToInputRange checks that cubic overshoot at a step is clipped.
func TestClipsToInputRange(t *testing.T) {
	in, out := Shape{1, 1, 8}, Shape{1, 1, 21}
	src := []float32{0, 0, 0, 0, 10, 10, 10, 10}
	dst := make([]float32, out.Len())
	iso := [3]float64{1, 1, 1}
	if err := Data(dst, out, src, in, iso, iso, Options{Order: 3}); err != nil {
		t.Fatal(err)
	}
	for i, v := range dst {
		if v < 0 || v > 10 {
			t.Errorf("output %d = %v outside [0, 10]", i, v)
		}
	}
}

func TestSegLabels(t *testing.T) {
	iso := [3]float64{1, 1, 1}
	tests := []struct {
		name    string
		in, out Shape
		src     []int16
		want    []int16
	}{
		{"upsample two labels", Shape{1, 1, 2}, Shape{1, 1, 4}, []int16{0, 1}, []int16{0, 0, 1, 1}},
		{"downsample keeps larger label at ties", Shape{1, 1, 4}, Shape{1, 1, 2}, []int16{-1, 2, 2, 0}, []int16{2, 2}},
		{"no label reaches 0.5 gives 0", Shape{1, 2, 2}, Shape{1, 1, 1}, []int16{1, 2, 3, 4}, []int16{0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := make([]int16, tc.out.Len())
			if err := Seg(got, tc.out, tc.src, tc.in, iso, iso, Options{Order: 1}); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestWorkersDeterministic checks that results do not depend on the number
// of workers, for the 3-D and the separate-z paths.
func TestWorkersDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	in := Shape{7, 19, 23}
	src := make([]float32, in.Len())
	seg := make([]int16, in.Len())
	for i := range src {
		src[i] = rng.Float32() * 100
		seg[i] = int16(rng.IntN(4) - 1)
	}
	tests := []struct {
		name     string
		out      Shape
		cur, tgt [3]float64
	}{
		{"3-D", Shape{9, 15, 30}, [3]float64{1, 1, 1}, [3]float64{0.8, 1.3, 0.75}},
		{"separate z", Shape{11, 25, 17}, [3]float64{4, 1, 1}, [3]float64{2.5, 0.75, 1.35}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d [2][]float32
			var s [2][]int16
			for k, w := range []int{1, 3} {
				d[k] = make([]float32, tc.out.Len())
				s[k] = make([]int16, tc.out.Len())
				if err := Data(d[k], tc.out, src, in, tc.cur, tc.tgt, Options{Order: 3, Workers: w}); err != nil {
					t.Fatal(err)
				}
				if err := Seg(s[k], tc.out, seg, in, tc.cur, tc.tgt, Options{Order: 1, Workers: w}); err != nil {
					t.Fatal(err)
				}
			}
			if !cmp.Equal(d[0], d[1]) || !cmp.Equal(s[0], s[1]) {
				t.Error("results differ between 1 and 3 workers")
			}
		})
	}
}

func TestBadOptions(t *testing.T) {
	iso := [3]float64{1, 1, 1}
	s := Shape{2, 2, 2}
	if err := Seg(make([]int16, 8), s, make([]int16, 8), s, iso, iso, Options{Order: 3}); err == nil {
		t.Error("order 3 for segmentations: want an error")
	}
	if err := Data(make([]float32, 8), s, make([]float32, 8), s, iso, iso, Options{Order: 3, OrderZ: 1}); err == nil {
		t.Error("order_z 1: want an error")
	}
	if err := Data(make([]float32, 7), s, make([]float32, 8), s, iso, iso, Options{Order: 3}); err == nil {
		t.Error("short destination: want an error")
	}
}
