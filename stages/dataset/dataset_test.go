package dataset

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nnrunner/nnrunner/internal/sharedtest"
	"github.com/nnrunner/nnrunner/stages/imageio/nifti"
)

// writeImage writes a float32 NIfTI with array shape (z, y, x) and spacing
// in array order, as nnU-Net sees it.
func writeImage(t *testing.T, path string, shape [3]int, spacing [3]float64, data []float32) {
	t.Helper()
	h := &nifti.Header{Version: 1, SclSlope: 1}
	h.Dim = [8]int64{3, int64(shape[2]), int64(shape[1]), int64(shape[0]), 1, 1, 1, 1}
	h.Pixdim = [8]float64{1, spacing[2], spacing[1], spacing[0], 1, 1, 1, 1}
	h.XYZTUnits = 10
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := nifti.WriteFile(path, h, data); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

const goodJSON = `{"channel_names": {"0": "CT", "1": "MR"}, "labels": {"background": 0, "a": 1, "b": 2},
 "numTraining": 2, "file_ending": ".nii.gz", "name": "toy"}`

var (
	toyShape   = [3]int{3, 4, 5}
	toySpacing = [3]float64{3, 0.75, 0.75}
)

func toyImage() []float32 {
	d := make([]float32, 60)
	for i := range d {
		d[i] = float32(i % 7)
	}
	return d
}

func toySeg() []float32 {
	s := make([]float32, 60)
	s[10], s[11], s[30] = 1, 2, 1
	return s
}

// buildToy writes a valid two-case, two-channel dataset and returns its folder.
func buildToy(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "dataset.json"), goodJSON)
	for _, id := range []string{"toy_000", "toy_001"} {
		for _, ch := range []string{"_0000", "_0001"} {
			writeImage(t, filepath.Join(dir, "imagesTr", id+ch+".nii.gz"), toyShape, toySpacing, toyImage())
		}
		writeImage(t, filepath.Join(dir, "labelsTr", id+".nii.gz"), toyShape, toySpacing, toySeg())
	}
	return dir
}

func TestLoadToy(t *testing.T) {
	dir := buildToy(t)
	// Files that are not images of the dataset are ignored by enumeration.
	writeFile(t, filepath.Join(dir, "imagesTr", "notes.txt"), "x")
	d, err := Verify(context.Background(), dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range d.Cases {
		ids = append(ids, c.ID)
		if len(c.Images) != 2 || !strings.HasSuffix(c.Images[1], c.ID+"_0001.nii.gz") {
			t.Errorf("case %s images %v", c.ID, c.Images)
		}
	}
	if diff := cmp.Diff([]string{"toy_000", "toy_001"}, ids); diff != "" {
		t.Errorf("case ids (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"CT", "MR"}, d.Channels); diff != "" {
		t.Errorf("channels (-want +got):\n%s", diff)
	}
	if d.FileEnding != ".nii.gz" || d.NumTraining != 2 || d.ReaderWriter != "" {
		t.Errorf("fields: ending %q numTraining %d reader %q", d.FileEnding, d.NumTraining, d.ReaderWriter)
	}
}

func TestLabels(t *testing.T) {
	tests := []struct {
		name       string
		labels     string
		rco        string
		wantErr    string
		all        []int
		fg         []int
		regions    [][]int
		heads      int
		hasIgnore  bool
		ignoreAt   int
		regionMode bool
	}{
		{name: "plain", labels: `{"background": 0, "liver": 1, "tumor": 2}`,
			all: []int{0, 1, 2}, fg: []int{1, 2}, heads: 3},
		{name: "ignore", labels: `{"background": 0, "a": 1, "ignore": 2}`,
			all: []int{0, 1}, fg: []int{1}, heads: 2, hasIgnore: true, ignoreAt: 2},
		{name: "regions", labels: `{"background": 0, "whole": [1, 2, 3], "core": [2, 3], "enh": 3}`, rco: `, "regions_class_order": [1, 2, 3]`,
			all: []int{0, 1, 2, 3}, fg: []int{1, 2, 3}, regions: [][]int{{1, 2, 3}, {2, 3}, {3}}, heads: 3, regionMode: true},
		{name: "single-element list is not a region", labels: `{"background": 0, "a": [1]}`,
			all: []int{0, 1}, fg: []int{1}, heads: 2},
		{name: "no background", labels: `{"a": 1}`, wantErr: `"background" is missing`},
		{name: "background list", labels: `{"background": [0], "a": 1}`, wantErr: `"background" must be the integer 0`},
		{name: "ignore not max+1", labels: `{"background": 0, "a": 1, "ignore": 5}`, wantErr: `"ignore" must be the highest label plus one (2)`},
		{name: "regions without order", labels: `{"background": 0, "w": [1, 2], "c": 2}`, wantErr: "regions_class_order is missing"},
		{name: "regions order length", labels: `{"background": 0, "w": [1, 2], "c": 2}`, rco: `, "regions_class_order": [1]`, wantErr: "regions_class_order has 1 entries"},
		{name: "float label", labels: `{"background": 0, "a": 1.5}`, wantErr: `labels["a"]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "dataset.json"), `{"channel_names": {"0": "CT"}, "labels": `+tc.labels+tc.rco+
				`, "numTraining": 0, "file_ending": ".nii.gz"}`)
			if err := os.Mkdir(filepath.Join(dir, "imagesTr"), 0o755); err != nil {
				t.Fatal(err)
			}
			d, err := Load(dir)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			l := d.Labels
			if diff := cmp.Diff(tc.all, l.AllLabels()); diff != "" {
				t.Errorf("all labels (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.fg, l.ForegroundLabels()); diff != "" {
				t.Errorf("foreground labels (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.regions, l.ForegroundRegions()); diff != "" {
				t.Errorf("regions (-want +got):\n%s", diff)
			}
			if l.NumSegmentationHeads() != tc.heads || l.HasIgnore != tc.hasIgnore || l.IgnoreLabel != tc.ignoreAt || l.RegionBased != tc.regionMode {
				t.Errorf("heads %d ignore %v/%d regions %v", l.NumSegmentationHeads(), l.HasIgnore, l.IgnoreLabel, l.RegionBased)
			}
		})
	}
}

// TestBrokenDatasets is the bad-dataset catalogue: each broken dataset
// must fail Verify with a message naming the file and the problem.
func TestBrokenDatasets(t *testing.T) {
	img := func(dir, name string) string { return filepath.Join(dir, "imagesTr", name) }
	lab := func(dir, name string) string { return filepath.Join(dir, "labelsTr", name) }
	tests := []struct {
		name   string
		break_ func(t *testing.T, dir string)
		want   []string // substrings of the problem lines, in order
	}{
		{"missing dataset.json", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "dataset.json"))
		}, []string{"dataset.json: ", "dataset.json is missing"}},
		{"missing keys", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "dataset.json"), `{"channel_names": {"0": "CT"}, "labels": {"background": 0}}`)
		}, []string{"required keys missing: numTraining, file_ending"}},
		{"numTraining mismatch", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "dataset.json"), strings.Replace(goodJSON, `"numTraining": 2`, `"numTraining": 3`, 1))
		}, []string{"dataset.json: numTraining is 3 but 2 training cases were found"}},
		{"missing label file", func(t *testing.T, dir string) {
			os.Remove(lab(dir, "toy_001.nii.gz"))
		}, []string{"labelsTr/toy_001.nii.gz: label file of case toy_001 is missing"}},
		{"label without images", func(t *testing.T, dir string) {
			writeImage(t, lab(dir, "toy_009.nii.gz"), toyShape, toySpacing, toySeg())
		}, []string{"labelsTr/toy_009.nii.gz: label file has no images"}},
		{"misnamed image", func(t *testing.T, dir string) {
			writeImage(t, img(dir, "ct1.nii.gz"), toyShape, toySpacing, toyImage())
		}, []string{"imagesTr/ct1.nii.gz: name does not follow <case>_<4-digit channel>.nii.gz"}},
		{"missing channel file", func(t *testing.T, dir string) {
			os.Remove(img(dir, "toy_000_0001.nii.gz"))
		}, []string{"imagesTr/toy_000_0000.nii.gz: case toy_000 has 1 channel file(s) but dataset.json declares 2 channel(s)"}},
		{"image/label shape mismatch", func(t *testing.T, dir string) {
			writeImage(t, lab(dir, "toy_000.nii.gz"), [3]int{3, 4, 4}, toySpacing, make([]float32, 48))
		}, []string{"labelsTr/toy_000.nii.gz: shape [3 4 4] does not match the image shape [3 4 5] of case toy_000"}},
		{"image/label spacing mismatch", func(t *testing.T, dir string) {
			writeImage(t, lab(dir, "toy_001.nii.gz"), toyShape, [3]float64{2.5, 0.75, 0.75}, toySeg())
		}, []string{"labelsTr/toy_001.nii.gz: spacing [2.5 0.75 0.75] does not match the image spacing [3 0.75 0.75]"}},
		{"undeclared label values", func(t *testing.T, dir string) {
			s := toySeg()
			s[5], s[6] = 3, 7
			writeImage(t, lab(dir, "toy_001.nii.gz"), toyShape, toySpacing, s)
		}, []string{"labelsTr/toy_001.nii.gz: label map contains values not declared in dataset.json labels: [3, 7] (declared: [0, 1, 2])"}},
		{"NaN in image", func(t *testing.T, dir string) {
			d := toyImage()
			d[3] = float32(math.NaN())
			writeImage(t, img(dir, "toy_000_0001.nii.gz"), toyShape, toySpacing, d)
		}, []string{"imagesTr/toy_000_0001.nii.gz: image contains 1 NaN or infinite value(s)"}},
		{"Inf in image", func(t *testing.T, dir string) {
			d := toyImage()
			d[3], d[4] = float32(math.Inf(1)), float32(math.Inf(-1))
			writeImage(t, img(dir, "toy_001_0000.nii.gz"), toyShape, toySpacing, d)
		}, []string{"imagesTr/toy_001_0000.nii.gz: image contains 2 NaN or infinite value(s)"}},
		{"labels not consecutive", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "dataset.json"), strings.Replace(goodJSON, `"b": 2`, `"b": 3`, 1))
		}, []string{"dataset.json: labels must be consecutive integers starting at 0, got [0, 1, 3]",
			"labelsTr/toy_000.nii.gz: label map contains values not declared in dataset.json labels: [2]"}},
		{"channel shape mismatch", func(t *testing.T, dir string) {
			writeImage(t, img(dir, "toy_001_0001.nii.gz"), [3]int{3, 4, 4}, toySpacing, make([]float32, 48))
		}, []string{"imagesTr/toy_001_0001.nii.gz: shape [3 4 4] differs from imagesTr/toy_001_0000.nii.gz's [3 4 5]"}},
		{"corrupt image file", func(t *testing.T, dir string) {
			writeFile(t, img(dir, "toy_000_0000.nii.gz"), "not a nifti file")
		}, []string{"imagesTr/toy_000_0000.nii.gz: cannot read image"}},
		{"labels folder missing", func(t *testing.T, dir string) {
			os.RemoveAll(filepath.Join(dir, "labelsTr"))
		}, []string{"labelsTr: folder is missing: put one label file <case>.nii.gz per case there"}},
		{"explicit file list with a missing file", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "dataset.json"), strings.Replace(goodJSON, `"name": "toy"`,
				`"dataset": {"toy_000": {"images": ["imagesTr/toy_000_0000.nii.gz", "imagesTr/toy_000_0001.nii.gz"], "label": "labelsTr/toy_000.nii.gz"},
				 "toy_001": {"images": ["imagesTr/toy_001_0000.nii.gz", "imagesTr/gone.nii.gz"], "label": "labelsTr/toy_001.nii.gz"}}`, 1))
		}, []string{"imagesTr/gone.nii.gz: image file of case toy_001 listed in dataset.json does not exist"}},
		{"several problems in one report", func(t *testing.T, dir string) {
			os.Remove(lab(dir, "toy_000.nii.gz"))
			d := toyImage()
			d[0] = float32(math.NaN())
			writeImage(t, img(dir, "toy_001_0000.nii.gz"), toyShape, toySpacing, d)
		}, []string{"labelsTr/toy_000.nii.gz: label file of case toy_000 is missing",
			"imagesTr/toy_001_0000.nii.gz: image contains 1 NaN"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := buildToy(t)
			tc.break_(t, dir)
			_, err := Verify(context.Background(), dir, 2)
			var ie *IntegrityError
			if !errors.As(err, &ie) {
				t.Fatalf("Verify error = %v, want an *IntegrityError", err)
			}
			msg := err.Error()
			pos := 0
			for _, w := range tc.want {
				i := strings.Index(msg[pos:], w)
				if i < 0 {
					t.Fatalf("report lacks %q (in order):\n%s", w, msg)
				}
				pos += i + len(w)
			}
			if !strings.Contains(msg, dir) {
				t.Errorf("report does not name the dataset folder:\n%s", msg)
			}
		})
	}
}

func TestVerifyCancelled(t *testing.T) {
	dir := buildToy(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Verify(ctx, dir, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

// TestVerifyGolden runs the integrity check on the raw datasets upstream
// verified (../shared/golden/raw), which must pass.
func TestVerifyGolden(t *testing.T) {
	raw := sharedtest.Path(t, "golden", "raw")
	for _, name := range []string{"Dataset501_SynthCTPre", "Dataset502_SynthCTFine", "Dataset503_SynthMR"} {
		t.Run(name, func(t *testing.T) {
			d, err := Verify(context.Background(), filepath.Join(raw, name), 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Cases) != d.NumTraining {
				t.Fatalf("%d cases, numTraining %d", len(d.Cases), d.NumTraining)
			}
		})
	}
}

func TestCountNonFinite(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	finite := []float32{0, -0.5, math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, 1e-39, 3}
	for _, n := range []int{0, 1, 3, 4, 5, 8, 11} {
		for pos := range n {
			for _, bad := range []float32{inf, -inf, nan} {
				a := make([]float32, n)
				for i := range a {
					a[i] = finite[i%len(finite)]
				}
				if got := countNonFinite(a); got != 0 {
					t.Fatalf("n=%d finite values: count %d", n, got)
				}
				a[pos] = bad
				if got := countNonFinite(a); got != 1 {
					t.Fatalf("n=%d %v at %d: count %d, want 1", n, bad, pos, got)
				}
			}
		}
	}
}
