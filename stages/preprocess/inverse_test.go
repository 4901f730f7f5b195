package preprocess

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nnrunner/nnrunner/stages/imageio"
	"github.com/nnrunner/nnrunner/stages/normalize"
	"github.com/nnrunner/nnrunner/stages/resample"
)

// synthetic returns an image that is zero outside a box and the labels, and
// a label map with two nested ellipsoids.
func synthetic(shape [3]int, spacing [3]float64) (*imageio.Image, []int16) {
	n := shape[0] * shape[1] * shape[2]
	img := &imageio.Image{Data: make([]float32, n), Shape: [4]int{1, shape[0], shape[1], shape[2]}, Spacing: spacing}
	seg := make([]int16, n)
	for x := 0; x < shape[0]; x++ {
		for y := 0; y < shape[1]; y++ {
			for z := 0; z < shape[2]; z++ {
				i := (x*shape[1]+y)*shape[2] + z
				dx, dy, dz := float64(x-shape[0]/2)/4, float64(y-shape[1]/2)/9, float64(z-shape[2]/2)/8
				switch r := dx*dx + dy*dy + dz*dz; {
				case r < 0.3:
					seg[i] = 2
				case r < 1:
					seg[i] = 1
				}
				if seg[i] > 0 || (y >= 3 && y < shape[1]-2 && z >= 2 && z < shape[2]-4) {
					img.Data[i] = float32(100 + (x*7+y*3+z)%50)
				}
			}
		}
	}
	return img, seg
}

func testConfig(spacing []float64) *Config {
	return &Config{
		Name:              "3d_fullres",
		TransposeForward:  [3]int{2, 0, 1},
		TransposeBackward: [3]int{1, 2, 0},
		Spacing:           spacing,
		Channels:          []normalize.Channel{{Scheme: normalize.ZScore, UseMask: true}},
		Data:              resample.Options{Order: 3},
		Seg:               resample.Options{Order: 1},
		Probabilities:     resample.Options{Order: 1},
		Classes:           [][]int{{1}, {2}},
		ClassKeys:         []string{"1", "2"},
	}
}

// TestRoundTrip preprocesses a label map and brings it back: identical
// without resampling, within one voxel of a label boundary with it.
func TestRoundTrip(t *testing.T) {
	shape := [3]int{12, 30, 28}
	spacing := [3]float64{4, 0.9, 0.9}
	tests := []struct {
		name   string
		target []float64 // transposed order (z last axis first)
		exact  bool
	}{
		{"no resampling", []float64{0.9, 4, 0.9}, true},
		{"anisotropic, separate z", []float64{0.7, 2.5, 1.1}, false},
		{"isotropic target", []float64{1.5, 1.5, 1.5}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img, seg := synthetic(shape, spacing)
			c := testConfig(tc.target)
			cs, err := c.Run(context.Background(), img, seg, 2)
			if err != nil {
				t.Fatal(err)
			}
			pred := make([]int16, len(cs.Seg))
			for i, v := range cs.Seg {
				pred[i] = max(v, 0)
			}
			back, bs, err := c.SegToOriginal(pred, [3]int(cs.Shape[1:]), &cs.Properties, 2)
			if err != nil {
				t.Fatal(err)
			}
			if bs != shape {
				t.Fatalf("reverted shape %v, want %v", bs, shape)
			}
			bad, far := 0, 0
			for x := 0; x < shape[0]; x++ {
				for y := 0; y < shape[1]; y++ {
					for z := 0; z < shape[2]; z++ {
						i := (x*shape[1]+y)*shape[2] + z
						if back[i] == seg[i] {
							continue
						}
						bad++
						if !nearLabel(seg, shape, x, y, z, back[i]) {
							far++
						}
					}
				}
			}
			if tc.exact && bad > 0 {
				t.Errorf("%d voxels differ after a round trip without resampling", bad)
			}
			if far > 0 {
				t.Errorf("%d of %d differing voxels are more than one voxel from their label", far, bad)
			}
			t.Logf("%d of %d voxels differ, all within one voxel of a boundary", bad, len(seg))
		})
	}
}

// nearLabel reports whether label l occurs within one voxel (26-neighbourhood)
// of (x, y, z).
func nearLabel(seg []int16, s [3]int, x, y, z int, l int16) bool {
	for dx := -1; dx <= 1; dx++ {
		for dy := -1; dy <= 1; dy++ {
			for dz := -1; dz <= 1; dz++ {
				a, b, c := x+dx, y+dy, z+dz
				if a < 0 || b < 0 || c < 0 || a >= s[0] || b >= s[1] || c >= s[2] {
					continue
				}
				if seg[(a*s[1]+b)*s[2]+c] == l {
					return true
				}
			}
		}
	}
	return false
}

// TestProbabilitiesToOriginal checks shapes and that one-hot probabilities
// of the preprocessed label map come back as the label map when nothing is
// resampled (all zero outside the crop box, as upstream fills it).
func TestProbabilitiesToOriginal(t *testing.T) {
	shape := [3]int{6, 10, 9}
	img, seg := synthetic(shape, [3]float64{1, 1, 1})
	c := testConfig([]float64{1, 1, 1})
	cs, err := c.Run(context.Background(), img, seg, 1)
	if err != nil {
		t.Fatal(err)
	}
	n := len(cs.Seg)
	probs := make([]float32, 3*n)
	for i, v := range cs.Seg {
		probs[int(max(v, 0))*n+i] = 1
	}
	back, bs, err := c.ProbabilitiesToOriginal(probs, 3, [3]int(cs.Shape[1:]), &cs.Properties, 1)
	if err != nil {
		t.Fatal(err)
	}
	if bs != shape || len(back) != 3*len(seg) {
		t.Fatalf("got shape %v with %d values, want %v x 3", bs, len(back), shape)
	}
	m := len(seg)
	for i, l := range seg {
		if back[int(l)*m+i] == 1 {
			continue
		}
		if l != 0 || back[i] != 0 || back[m+i] != 0 || back[2*m+i] != 0 {
			t.Fatalf("voxel %d (label %d): probabilities %v %v %v, want one-hot or all zero outside the crop", i, l, back[i], back[m+i], back[2*m+i])
		}
	}
}

func TestLabelsFromFloat(t *testing.T) {
	tests := []struct {
		name string
		in   []float32
		ok   bool
	}{
		{"integers", []float32{0, 1, 2, 300}, true},
		{"fraction", []float32{0, 1.5}, false},
		{"negative", []float32{-1}, false},
		{"too large", []float32{40000}, false},
		{"NaN", []float32{float32(math.NaN())}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LabelsFromFloat(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("error %v, want ok=%v", err, tc.ok)
			}
			for i := range got {
				if float32(got[i]) != tc.in[i] {
					t.Errorf("label %d = %d, want %v", i, got[i], tc.in[i])
				}
			}
		})
	}
}

// TestPropertiesJSON round-trips properties through MarshalJSON and
// UnmarshalProperties, including a region key and an empty class.
func TestPropertiesJSON(t *testing.T) {
	p := &Properties{
		Spacing:             [3]float64{3.200000047683716, 0.5, 1e-05},
		ShapeBeforeCropping: [3]int{4, 5, 6},
		BBox:                [3][2]int{{0, 4}, {1, 5}, {2, 6}},
		ShapeAfterCropping:  [3]int{4, 4, 4},
		ClassLocations: []ClassLocations{
			{Key: "2", Coords: [][4]int64{{0, 1, 2, 3}, {0, 0, 0, 1}}},
			{Key: "(1, 2)", Coords: [][4]int64{}},
		},
	}
	b, err := p.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalProperties(b)
	if err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	if diff := cmp.Diff(p, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s\n%s", diff, b)
	}
	empty := &Properties{ClassLocations: []ClassLocations{}}
	b, err = empty.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(b), `"class_locations": {}}`) {
		t.Errorf("no classes: got %s, want an empty class_locations object", b)
	}
}
