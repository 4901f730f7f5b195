package crop

import (
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// cube returns a (1, n, n, n) image that is 1 on the shell [1, n-1) minus
// an inner cavity [2, n-2), i.e. a hollow box inside a zero border.
func hollowCube(n int) ([]float32, Shape) {
	s := Shape{n, n, n}
	d := make([]float32, s.Len())
	for x := 1; x < n-1; x++ {
		for y := 1; y < n-1; y++ {
			for z := 1; z < n-1; z++ {
				inner := x >= 2 && x < n-2 && y >= 2 && y < n-2 && z >= 2 && z < n-2
				if !inner {
					d[(x*n+y)*n+z] = 1
				}
			}
		}
	}
	return d, s
}

func count(m []bool) int {
	c := 0
	for _, v := range m {
		if v {
			c++
		}
	}
	return c
}

func TestFillHoles(t *testing.T) {
	tests := []struct {
		name   string
		build  func() ([]bool, Shape)
		filled int // true voxels after filling
	}{
		{"enclosed cavity is filled", func() ([]bool, Shape) {
			d, s := hollowCube(6)
			return NonzeroMask(d, 1, s), s
		}, 4 * 4 * 4},
		{"cavity open to a face is kept", func() ([]bool, Shape) {
			// A tube along z through the whole array: its inside touches two faces.
			s := Shape{5, 5, 4}
			m := make([]bool, s.Len())
			for x := 1; x < 4; x++ {
				for y := 1; y < 4; y++ {
					for z := range 4 {
						if x != 2 || y != 2 {
							m[(x*5+y)*4+z] = true
						}
					}
				}
			}
			return m, s
		}, 8 * 4},
		{"diagonal gap does not connect (6-connectivity)", func() ([]bool, Shape) {
			// Remove the shell's corner voxel (1,1,1): the cavity touches it
			// only across a vertex, so the cavity stays enclosed.
			d, s := hollowCube(7)
			d[(1*7+1)*7+1] = 0
			return NonzeroMask(d, 1, s), s
		}, 5*5*5 - 1},
		{"cavity open on a thin axis is kept", func() ([]bool, Shape) {
			s := Shape{5, 5, 1}
			m := make([]bool, s.Len())
			for x := 1; x < 4; x++ {
				for y := 1; y < 4; y++ {
					if x != 2 || y != 2 {
						m[x*5+y] = true
					}
				}
			}
			return m, s
		}, 8},
		{"singleton axis: nothing filled", func() ([]bool, Shape) {
			s := Shape{1, 5, 5}
			m := make([]bool, s.Len())
			for y := 1; y < 4; y++ {
				for z := 1; z < 4; z++ {
					if y != 2 || z != 2 {
						m[y*5+z] = true
					}
				}
			}
			return m, s
		}, 8},
		{"all background stays empty", func() ([]bool, Shape) {
			s := Shape{3, 4, 5}
			return make([]bool, s.Len()), s
		}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, s := tc.build()
			FillHoles(m, s)
			if got := count(m); got != tc.filled {
				t.Fatalf("filled voxels = %d, want %d", got, tc.filled)
			}
		})
	}
}

func TestBBox(t *testing.T) {
	s := Shape{4, 5, 6}
	m := make([]bool, s.Len())
	m[(1*5+2)*6+3] = true
	m[(2*5+4)*6+1] = true
	if diff := cmp.Diff(Box{{1, 3}, {2, 5}, {1, 4}}, BBox(m, s)); diff != "" {
		t.Fatalf("bbox (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Box{{0, 4}, {0, 5}, {0, 6}}, BBox(make([]bool, s.Len()), s)); diff != "" {
		t.Fatalf("empty mask bbox (-want +got):\n%s", diff)
	}
}

func TestNonzeroBoxMatchesToNonzero(t *testing.T) {
	random := func(channels int, s Shape, density float64, seed uint64) func() []float32 {
		return func() []float32 {
			r := rand.New(rand.NewPCG(seed, 1))
			d := make([]float32, channels*s.Len())
			for i := range d {
				if r.Float64() < density {
					d[i] = r.Float32() - 0.5
				}
			}
			return d
		}
	}
	tests := []struct {
		name     string
		channels int
		shape    Shape
		data     func() []float32
	}{
		{"empty", 1, Shape{3, 4, 5}, func() []float32 { return make([]float32, 60) }},
		{"hollow cube", 1, Shape{9, 9, 9}, func() []float32 { d, _ := hollowCube(9); return d }},
		{"one voxel per channel", 2, Shape{5, 6, 7}, func() []float32 {
			d := make([]float32, 2*210)
			d[(1*6+5)*7+6] = 1
			d[210+(3*6+2)*7+0] = -2
			return d
		}},
		{"sparse", 1, Shape{12, 10, 11}, random(1, Shape{12, 10, 11}, 0.005, 1)},
		{"sparse, three channels", 3, Shape{8, 9, 10}, random(3, Shape{8, 9, 10}, 0.003, 2)},
		{"dense", 2, Shape{6, 7, 8}, random(2, Shape{6, 7, 8}, 0.3, 3)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.data()
			res, err := ToNonzero[int8](d, tc.channels, tc.shape, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := NonzeroBox(d, tc.channels, tc.shape)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(res.Box, got); diff != "" {
				t.Fatalf("box (-ToNonzero +NonzeroBox):\n%s", diff)
			}
		})
	}
	if _, err := NonzeroBox(make([]float32, 5), 2, Shape{1, 1, 3}); err == nil {
		t.Fatal("want an error for a short image")
	}
}

func TestToNonzero(t *testing.T) {
	// Two channels, 3x4x4; channel 0 nonzero at (1,1,1), channel 1 at (1,2,2).
	s := Shape{3, 4, 4}
	n := s.Len()
	data := make([]float32, 2*n)
	data[(1*4+1)*4+1] = 5
	data[n+(1*4+2)*4+2] = 7
	seg := make([]int16, n)
	seg[(1*4+1)*4+2] = 0 // background inside the box, outside the mask -> -1
	seg[(1*4+2)*4+1] = 2 // label outside the mask stays
	res, err := ToNonzero(data, 2, s, seg)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Box{{1, 2}, {1, 3}, {1, 3}}, res.Box); diff != "" {
		t.Fatalf("box (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Shape{1, 2, 2}, res.Shape); diff != "" {
		t.Fatalf("shape (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]float32{5, 0, 0, 0, 0, 0, 0, 7}, res.Data); diff != "" {
		t.Fatalf("data (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int16{0, -1, 2, 0}, res.Seg); diff != "" {
		t.Fatalf("seg (-want +got):\n%s", diff)
	}

	noSeg, err := ToNonzero[int8](data, 2, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int8{0, -1, -1, 0}, noSeg.Seg); diff != "" {
		t.Fatalf("created seg (-want +got):\n%s", diff)
	}

	if _, err := ToNonzero[int8](data[:5], 2, s, nil); err == nil {
		t.Fatal("want an error for a short image")
	}
}

func BenchmarkFillHoles(b *testing.B) {
	d, s := hollowCube(128)
	m := NonzeroMask(d, 1, s)
	for b.Loop() {
		c := append([]bool(nil), m...)
		FillHoles(c, s)
	}
}
