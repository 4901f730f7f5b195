package preprocess

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/nnrunner/nnrunner/pipeline/stage"
	"github.com/nnrunner/nnrunner/stages/npy"
	"github.com/nnrunner/nnrunner/stages/pyjson"
)

// summaryCase is what preprocessed_summary.json records of one case.
type summaryCase struct {
	Properties struct {
		Spacing     []float64      `json:"spacing"`
		Before      []int          `json:"shape_before_cropping"`
		BBox        [][]int        `json:"bbox_used_for_cropping"`
		After       []int          `json:"shape_after_cropping_and_before_resampling"`
		ClassCounts map[string]int `json:"class_locations_counts"`
	} `json:"properties"`
	Digest map[string]struct {
		Count     int    `json:"count"`
		AsSampled string `json:"sha256_int64_c_order_as_sampled"`
	} `json:"class_locations_digest"`
	Data struct {
		Shape []int   `json:"shape"`
		Sum   float64 `json:"sum"`
		Min   float64 `json:"min"`
		Max   float64 `json:"max"`
		SHA   string  `json:"sha256_c_order_bytes"`
	} `json:"data"`
	Seg struct {
		SHA string `json:"sha256_c_order_bytes"`
	} `json:"seg"`
}

// readSummary returns the cases of one "<plans>/<config>" entry of an
// upstream preprocessed_summary.json.
func readSummary(t testing.TB, path, key string) map[string]summaryCase {
	t.Helper()
	o, err := pyjson.ReadObject(path)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := o.Get(key)
	if !ok {
		t.Fatalf("%s has no entry %q", path, key)
	}
	cases, _ := v.(*pyjson.Object).Get("cases")
	var out map[string]summaryCase
	if err := decodeInto(cases, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// checkSummary compares the stage's output folder with upstream's summary:
// segmentation bytes, properties and class-location digests must be
// identical; data bytes are compared by hash and, where the hash differs,
// by sum, min and max. It returns the number of cases whose data bytes
// differ.
func checkSummary(t testing.TB, want map[string]summaryCase, dir string) int {
	t.Helper()
	dataDiff := 0
	for id, w := range want {
		base := filepath.Join(dir, id)
		d, err := npy.ReadFile(base + ".npy")
		if err != nil {
			t.Fatal(err)
		}
		if !equalInts(d.Shape, w.Data.Shape) {
			t.Errorf("%s: data shape %v, want %v", id, d.Shape, w.Data.Shape)
			continue
		}
		if sha(d.Raw) != w.Data.SHA {
			dataDiff++
			v, _ := d.Float32()
			sum, lo, hi := 0.0, math.Inf(1), math.Inf(-1)
			for _, x := range v {
				sum += float64(x)
				lo, hi = math.Min(lo, float64(x)), math.Max(hi, float64(x))
			}
			if math.Abs(sum-w.Data.Sum) > 1e-4*float64(len(v)) || math.Abs(lo-w.Data.Min) > 1e-4 || math.Abs(hi-w.Data.Max) > 1e-4 {
				t.Errorf("%s: data sum/min/max %v/%v/%v, want %v/%v/%v", id, sum, lo, hi, w.Data.Sum, w.Data.Min, w.Data.Max)
			}
		}
		s, err := npy.ReadFile(base + "_seg.npy")
		if err != nil {
			t.Fatal(err)
		}
		vals, _ := s.Int64s()
		b16 := make([]byte, 2*len(vals))
		for i, x := range vals {
			binary.LittleEndian.PutUint16(b16[2*i:], uint16(int16(x)))
		}
		if sha(b16) != w.Seg.SHA {
			t.Errorf("%s: segmentation bytes differ from upstream's", id)
		}
		p, err := ReadProperties(base + ".json")
		if err != nil {
			t.Fatal(err)
		}
		if !equalInts(p.ShapeBeforeCropping[:], w.Properties.Before) || !equalInts(p.ShapeAfterCropping[:], w.Properties.After) ||
			p.Spacing != [3]float64(w.Properties.Spacing) {
			t.Errorf("%s: properties %v %v %v, want %v %v %v", id, p.Spacing, p.ShapeBeforeCropping, p.ShapeAfterCropping,
				w.Properties.Spacing, w.Properties.Before, w.Properties.After)
		}
		for a := 0; a < 3; a++ {
			if !equalInts(p.BBox[a][:], w.Properties.BBox[a]) {
				t.Errorf("%s: bbox %v, want %v", id, p.BBox, w.Properties.BBox)
				break
			}
		}
		for _, cl := range p.ClassLocations {
			if n := w.Properties.ClassCounts[cl.Key]; n != len(cl.Coords) {
				t.Errorf("%s: class %s has %d locations, want %d", id, cl.Key, len(cl.Coords), n)
			}
			dg, ok := w.Digest[cl.Key]
			if !ok {
				continue
			}
			b := make([]byte, 0, 32*len(cl.Coords))
			for _, r := range cl.Coords {
				for _, x := range r {
					b = binary.LittleEndian.AppendUint64(b, uint64(x))
				}
			}
			if sha(b) != dg.AsSampled {
				t.Errorf("%s: class %s locations differ from upstream's sampled order", id, cl.Key)
			}
		}
	}
	return dataDiff
}

// request0 is a stage request for one configuration on all cores.
func request0(t testing.TB, out, raw, plansFile, config string) *stage.Request {
	t.Helper()
	return &stage.Request{
		With:    stage.Values{"dataset": raw, "plans": plansFile, "configurations": []any{config}},
		OutDir:  out,
		Threads: runtime.GOMAXPROCS(0),
		Log:     hclog.NewNullLogger(),
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// summaryRun is one stage run checked against an upstream summary.
type summaryRun struct {
	dataset, plans, config string
}

// runAndCheck runs the stage for r and compares every case of its summary.
func runAndCheck(t testing.TB, shared string, r summaryRun, raw string) {
	t.Helper()
	up := filepath.Join(shared, "golden", "upstream", r.dataset)
	out := t.TempDir()
	req := request0(t, out, raw, filepath.Join(up, r.plans+".json"), r.config)
	if err := New().Run(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	want := readSummary(t, filepath.Join(up, "preprocessed_summary.json"), r.plans+"/"+r.config)
	folder := r.plans + "_" + r.config
	n := checkSummary(t, want, filepath.Join(out, OutputData, folder))
	t.Logf("%s %s/%s: %d cases checked, %d with data bytes not identical (stats within 1e-4)", r.dataset, r.plans, r.config, len(want), n)
}

// TestSummarySynth checks every case of the smallest synthetic dataset
// against upstream's summary (the other datasets run in the benchmarks).
func TestSummarySynth(t *testing.T) {
	shared := sharedDir(t)
	for _, cfg := range []string{"3d_fullres", "2d"} {
		runAndCheck(t, shared, summaryRun{"Dataset503_SynthMR", "nnUNetPlans", cfg}, filepath.Join(shared, "golden", "raw", "Dataset503_SynthMR"))
	}
}
