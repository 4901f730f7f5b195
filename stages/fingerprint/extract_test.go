package fingerprint

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"

	"github.com/nnrunner/nnrunner/pipeline/stage"

	"github.com/nnrunner/nnrunner/stages/crop"
	"github.com/nnrunner/nnrunner/stages/dataset"
	"github.com/nnrunner/nnrunner/stages/imageio"
	"github.com/nnrunner/nnrunner/stages/imageio/nifti"
	"github.com/nnrunner/nnrunner/stages/nprand"
	"github.com/nnrunner/nnrunner/stages/npstat"
)

func writeImage(t *testing.T, path string, shape [3]int, data []float32) {
	t.Helper()
	h := &nifti.Header{Version: 1, SclSlope: 1}
	h.Dim = [8]int64{3, int64(shape[2]), int64(shape[1]), int64(shape[0]), 1, 1, 1, 1}
	h.Pixdim = [8]float64{1, 0.7, 0.8, 2.5, 1, 1, 1, 1}
	if err := nifti.WriteFile(path, h, data); err != nil {
		t.Fatal(err)
	}
}

// buildSynthetic writes a two-channel dataset: a case with a small
// foreground, a case without foreground (unless withEmpty is false: then
// it gets a small foreground too), a case whose foreground exceeds the
// per-case sample count (for small totals), and a case with zero slices
// that cropping removes.
func buildSynthetic(t *testing.T, withEmpty bool) string {
	t.Helper()
	dir := t.TempDir()
	for _, sub := range []string{"imagesTr", "labelsTr"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	js := `{"channel_names": {"0": "CT", "1": "MR"}, "labels": {"background": 0, "a": 1, "b": 2}, "numTraining": 4, "file_ending": ".nii.gz"}`
	if err := os.WriteFile(filepath.Join(dir, "dataset.json"), []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	shape := [3]int{20, 30, 30}
	n := shape[0] * shape[1] * shape[2]
	for ci, kind := range []string{"small", "empty", "large", "padded"} {
		img0 := make([]float32, n)
		img1 := make([]float32, n)
		seg := make([]float32, n)
		for i := range n {
			x := i / (shape[1] * shape[2])
			img0[i] = float32(math.Sin(float64(i)*0.37)*300) + float32(ci)
			img1[i] = float32((i*7919+ci*31)%1000) * 0.25
			switch kind {
			case "empty":
				if !withEmpty && i%211 == 5 {
					seg[i] = 1
				}
			case "small":
				if i%97 == 0 {
					seg[i] = float32(1 + i%2)
				}
			case "large":
				seg[i] = 1
			case "padded":
				if x < 3 || x >= 18 {
					img0[i], img1[i] = 0, 0
				}
				if i%13 == 0 {
					seg[i] = 2
				}
			}
		}
		id := fmt.Sprintf("syn_%03d", ci)
		writeImage(t, filepath.Join(dir, "imagesTr", id+"_0000.nii.gz"), shape, img0)
		writeImage(t, filepath.Join(dir, "imagesTr", id+"_0001.nii.gz"), shape, img1)
		writeImage(t, filepath.Join(dir, "labelsTr", id+".nii.gz"), shape, seg)
	}
	return dir
}

// reference computes the fingerprint statistics the direct way: all draws
// materialised and concatenated, then npstat over the whole vector.
func reference(t *testing.T, dir string, total int) *Fingerprint {
	t.Helper()
	ds, err := dataset.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	nch := len(ds.Channels)
	nSamples := total / len(ds.Cases)
	pooled := make([][]float32, nch)
	f := &Fingerprint{}
	var rel []float64
	for _, c := range ds.Cases {
		img, err := imageio.ReadImages(c.Images)
		if err != nil {
			t.Fatal(err)
		}
		seg, err := imageio.ReadSeg(c.Label)
		if err != nil {
			t.Fatal(err)
		}
		shape := crop.Shape(img.Shape[1:])
		res, err := crop.ToNonzero(img.Data, nch, shape, seg.Data)
		if err != nil {
			t.Fatal(err)
		}
		f.ShapesAfterCrop = append(f.ShapesAfterCrop, res.Shape)
		f.Spacings = append(f.Spacings, img.Spacing)
		rel = append(rel, float64(res.Shape.Len())/float64(shape.Len()))
		rs := nprand.New(1234)
		m := res.Shape.Len()
		for ch := range nch {
			var fg []float32
			for i, s := range res.Seg {
				if s > 0 {
					fg = append(fg, res.Data[ch*m+i])
				}
			}
			if len(fg) == 0 {
				continue
			}
			for _, j := range rs.Choice(len(fg), nSamples) {
				pooled[ch] = append(pooled[ch], fg[j])
			}
		}
	}
	f.MedianRelativeSizeAfterCropping = npstat.Median64(rel)
	for _, v := range pooled {
		if len(v) != nSamples*len(ds.Cases) {
			// np.concatenate with an empty list promotes to float64.
			f.Channels = append(f.Channels, refStats(widen(v)))
		} else {
			f.Channels = append(f.Channels, refStats(v))
		}
	}
	return f
}

func widen(v []float32) []float64 {
	w := make([]float64, len(v))
	for i, x := range v {
		w[i] = float64(x)
	}
	return w
}

func refStats[T npstat.Float](v []T) ChannelStats {
	return ChannelStats{
		Max:           float64(slices.Max(v)),
		Mean:          float64(npstat.Mean(v)),
		Median:        npstat.Percentile(v, 50),
		Min:           float64(slices.Min(v)),
		Percentile005: npstat.Percentile(v, 0.5),
		Percentile995: npstat.Percentile(v, 99.5),
		Std:           float64(npstat.Std(v)),
	}
}

// TestExtractMatchesReference checks the streaming statistics against the
// direct computation, bit for bit, for both ways draws are kept: replayed
// from the generator, or materialised (foreground larger than the
// per-case sample count), with pooled blocks spanning cases.
func TestExtractMatchesReference(t *testing.T) {
	dirs := map[bool]string{true: buildSynthetic(t, true), false: buildSynthetic(t, false)}
	tests := []struct {
		name    string
		total   int
		float64 bool // a case without foreground promotes the statistics to float64
	}{
		{"replayed draws, blocks span cases", 100_000, false},
		{"materialised draws (foreground > samples)", 40_000, false},
		{"fewer draws than one block", 1_000, false},
		{"float64: replayed draws", 100_000, true},
		{"float64: materialised draws", 40_000, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := dirs[tc.float64]
			want := reference(t, dir, tc.total)
			got, err := extract(context.Background(), dir, Options{Threads: 3}, tc.total)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("fingerprint (-reference +extract):\n%s", diff)
			}
		})
	}
}

// TestExtractWideIndices covers foregrounds above 65536 voxels: draw
// indices wider than 16 bits.
func TestExtractWideIndices(t *testing.T) {
	dir := t.TempDir()
	for _, sub := range []string{"imagesTr", "labelsTr"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	js := `{"channel_names": {"0": "CT"}, "labels": {"background": 0, "a": 1}, "numTraining": 2, "file_ending": ".nii"}`
	if err := os.WriteFile(filepath.Join(dir, "dataset.json"), []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	shape := [3]int{20, 60, 60}
	n := shape[0] * shape[1] * shape[2]
	for ci := range 2 {
		img := make([]float32, n)
		seg := make([]float32, n)
		for i := range n {
			img[i] = float32((i*7+ci)%5003) * 0.1
			if ci == 0 || i%3 == 0 {
				seg[i] = 1
			}
		}
		id := fmt.Sprintf("w_%d", ci)
		writeImage(t, filepath.Join(dir, "imagesTr", id+"_0000.nii"), shape, img)
		writeImage(t, filepath.Join(dir, "labelsTr", id+".nii"), shape, seg)
	}
	const total = 200_000 // 100000 draws per case >= 72000 foreground voxels
	want := reference(t, dir, total)
	got, err := extract(context.Background(), dir, Options{}, total)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("fingerprint (-reference +extract):\n%s", diff)
	}
}

func TestExtractErrors(t *testing.T) {
	tests := []struct {
		name   string
		modify func(t *testing.T, dir string)
		opts   Options
		want   string
	}{
		{"no foreground anywhere", func(t *testing.T, dir string) {
			for i := range 4 {
				writeImage(t, filepath.Join(dir, "labelsTr", fmt.Sprintf("syn_%03d.nii.gz", i)), [3]int{20, 30, 30}, make([]float32, 18000))
			}
		}, Options{}, "no case has foreground"},
		{"integrity problems are reported with Verify", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "labelsTr", "syn_002.nii.gz"))
		}, Options{Verify: true}, "labelsTr/syn_002.nii.gz: label file of case syn_002 is missing"},
		{"Verify collects layout and data problems in one report", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "labelsTr", "syn_002.nii.gz"))
			img := make([]float32, 18000)
			img[7] = float32(math.Inf(1))
			writeImage(t, filepath.Join(dir, "imagesTr", "syn_003_0001.nii.gz"), [3]int{20, 30, 30}, img)
			seg := make([]float32, 18000)
			seg[3] = 5
			writeImage(t, filepath.Join(dir, "labelsTr", "syn_000.nii.gz"), [3]int{20, 30, 30}, seg)
		}, Options{Verify: true}, "3 problem(s); fix them and run again:\n" +
			"  labelsTr/syn_002.nii.gz: label file of case syn_002 is missing\n" +
			"  labelsTr/syn_000.nii.gz: label map contains values not declared in dataset.json labels: [5] (declared: [0, 1, 2])\n" +
			"  imagesTr/syn_003_0001.nii.gz: image contains 1 NaN or infinite value(s)"},
		{"unreadable label with Verify", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "labelsTr", "syn_001.nii.gz"), []byte("junk"), 0o644)
		}, Options{Verify: true}, "labelsTr/syn_001.nii.gz: cannot read label file"},
		{"NaN without Verify", func(t *testing.T, dir string) {
			img := make([]float32, 18000)
			img[9] = float32(math.NaN())
			writeImage(t, filepath.Join(dir, "imagesTr", "syn_001_0000.nii.gz"), [3]int{20, 30, 30}, img)
		}, Options{}, "case syn_001: the images contain NaN values"},
		{"unreadable label without Verify names the file", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "labelsTr", "syn_001.nii.gz"), []byte("junk"), 0o644)
		}, Options{}, "syn_001.nii.gz"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := buildSynthetic(t, true)
			tc.modify(t, dir)
			_, err := extract(context.Background(), dir, tc.opts, 1000)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestExtractCancelled(t *testing.T) {
	dir := buildSynthetic(t, true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := extract(ctx, dir, Options{}, 1000); err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("error %v, want context canceled", err)
	}
}

func TestReadWriteRoundTrip(t *testing.T) {
	f := &Fingerprint{
		Channels:                        []ChannelStats{{Max: 1, Mean: 0.5, Median: 0.25, Min: -1e-05, Percentile005: 0.1, Percentile995: 0.9, Std: 0.3}},
		MedianRelativeSizeAfterCropping: 1.0,
		ShapesAfterCrop:                 [][3]int{{1, 2, 3}},
		Spacings:                        [][3]float64{{0.7900000214576721, 1, 3.5}},
	}
	path := filepath.Join(t.TempDir(), FileName)
	if err := f.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	g, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(f, g); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), `"min": -1e-05,`) || !strings.Contains(string(b), "\n    \"median_relative_size_after_cropping\": 1.0,") {
		t.Fatalf("not written like Python json.dump(indent=4, sort_keys=True):\n%s", b)
	}
}

func TestStage(t *testing.T) {
	dir := buildSynthetic(t, true)
	s := New()
	s.samples = 10_000
	if s.Spec().Type != "fingerprint" {
		t.Fatalf("type %q", s.Spec().Type)
	}
	outs, err := s.Outputs(stage.Values{"dataset": dir})
	if err != nil || len(outs) != 1 || outs[0].Name != "fingerprint" || outs[0].Path != FileName {
		t.Fatalf("outputs %v, %v", outs, err)
	}
	out := t.TempDir()
	req := &stage.Request{With: stage.Values{"dataset": dir, "verify": true}, OutDir: out, Threads: 2, Log: hclog.NewNullLogger()}
	if err := s.Run(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(filepath.Join(out, FileName))
	if err != nil {
		t.Fatal(err)
	}
	want := reference(t, dir, s.samples)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("stage output differs from the reference (-want +got):\n%s", diff)
	}
}

func TestSortKeyOrder(t *testing.T) {
	vals := []float32{float32(math.Inf(-1)), -3.5, -1e-30, 0, 1e-30, 1, 486420.2, float32(math.Inf(1)), float32(math.NaN())}
	for i, v := range vals {
		if k := sortKey(v); i > 0 && k <= sortKey(vals[i-1]) {
			t.Errorf("sortKey(%v) = %#x not above sortKey(%v) = %#x", v, k, vals[i-1], sortKey(vals[i-1]))
		}
		if back := fromSortKey(sortKey(v)); math.Float32bits(back) != math.Float32bits(v) {
			t.Errorf("fromSortKey(sortKey(%v)) = %v", v, back)
		}
	}
}
