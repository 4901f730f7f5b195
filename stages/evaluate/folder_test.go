package evaluate

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/nnrunner/nnrunner/pipeline/stage"
	"github.com/nnrunner/nnrunner/stages/imageio"
	"github.com/nnrunner/nnrunner/stages/pyjson"
	"github.com/nnrunner/nnrunner/stages/synthesize"
)

// synthDataset writes a tiny synthetic dataset with three held-out cases
// and returns its folder.
func synthDataset(t *testing.T) string {
	t.Helper()
	cfg := synthesize.Config{
		Name: "Dataset990_Eval", Modality: synthesize.CT, Prefix: "ev", Train: 1, Test: 3, Seed: 7,
		Shape: [3]int{12, 10, 8}, Spacing: [3]float64{1, 1.5, 2}, Lesions: true,
	}
	root, err := synthesize.Generate(context.Background(), t.TempDir(), cfg, 2)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// readLabels reads a label file as int32 values with its geometry.
func readLabels(t *testing.T, path string) ([]int32, [3]int, imageio.Geometry) {
	t.Helper()
	im, err := imageio.ReadSeg(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := labelValues(im.Data)
	if err != nil {
		t.Fatal(err)
	}
	return v, [3]int{im.Shape[1], im.Shape[2], im.Shape[3]}, im.Geometry
}

// copyPredictions writes every reference of refDir into a new folder,
// passing each through edit (which may change labels, shape or geometry,
// or return nil to leave the case out).
func copyPredictions(t *testing.T, refDir string, edit func(name string, seg []int32, shape [3]int, g imageio.Geometry) ([]int32, [3]int, imageio.Geometry)) string {
	t.Helper()
	out := t.TempDir()
	names, err := listFiles(refDir, ".nii.gz")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		seg, shape, g := readLabels(t, filepath.Join(refDir, n))
		if edit != nil {
			seg, shape, g = edit(n, seg, shape, g)
		}
		if seg == nil {
			continue
		}
		if err := imageio.WriteSeg(filepath.Join(out, n), seg, shape, g); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestFolder(t *testing.T) {
	root := synthDataset(t)
	refDir := filepath.Join(root, "labelsTs")
	info, err := ReadDatasetJSON(filepath.Join(root, "dataset.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(info.Classes); got != 2 || info.Classes[0].Key() != "1" || info.Classes[1].Key() != "2" {
		t.Fatalf("classes from dataset.json: %+v", info.Classes)
	}
	opt := FolderOptions{FileEnding: info.FileEnding, Classes: info.Classes}

	t.Run("perfect", func(t *testing.T) {
		s, err := Folder(context.Background(), copyPredictions(t, refDir, nil), refDir, opt)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Cases) != 3 {
			t.Fatalf("%d cases, want 3", len(s.Cases))
		}
		for ci, m := range s.Mean {
			if m.Dice != 1 || m.FP != 0 || m.FN != 0 {
				t.Errorf("class %s: mean %+v, want Dice 1 without errors", s.Classes[ci].Key(), m)
			}
		}
	})

	t.Run("one case with all organ voxels missed", func(t *testing.T) {
		var missed int64
		pred := copyPredictions(t, refDir, func(n string, seg []int32, shape [3]int, g imageio.Geometry) ([]int32, [3]int, imageio.Geometry) {
			if strings.HasPrefix(n, "ev_001") {
				for i, v := range seg {
					if v == 1 {
						seg[i] = 0
						missed++
					}
				}
			}
			return seg, shape, g
		})
		s, err := Folder(context.Background(), pred, refDir, opt)
		if err != nil {
			t.Fatal(err)
		}
		c := s.Cases[0]
		if !strings.HasSuffix(c.Prediction, "ev_001.nii.gz") || c.Reference != filepath.Join(refDir, "ev_001.nii.gz") {
			t.Fatalf("first case %s vs %s", c.Prediction, c.Reference)
		}
		if missed == 0 || c.Counts[0].FN != missed || c.Counts[0].TP != 0 || c.Counts[0].Dice() != 0 {
			t.Errorf("organ counts %+v, want FN = %d and TP 0", c.Counts[0], missed)
		}
		if want := 2. / 3; math.Abs(s.Mean[0].Dice-want) > 1e-15 {
			t.Errorf("mean organ Dice %v, want %v", s.Mean[0].Dice, want)
		}
	})

	for _, tc := range []struct {
		name  string
		opt   func(FolderOptions) FolderOptions
		edit  func(n string, seg []int32, shape [3]int, g imageio.Geometry) ([]int32, [3]int, imageio.Geometry)
		wants []string
	}{
		{
			name: "missing prediction",
			edit: func(n string, seg []int32, shape [3]int, g imageio.Geometry) ([]int32, [3]int, imageio.Geometry) {
				if strings.HasPrefix(n, "ev_002") {
					return nil, shape, g
				}
				return seg, shape, g
			},
			wants: []string{"1 reference case(s) have no prediction", "ev_002.nii.gz", "chill"},
		},
		{
			name: "shape mismatch",
			edit: func(n string, seg []int32, shape [3]int, g imageio.Geometry) ([]int32, [3]int, imageio.Geometry) {
				if strings.HasPrefix(n, "ev_003") {
					g.FileShape = []int{g.FileShape[0], g.FileShape[1], g.FileShape[2] - 1}
					shape[0]--
					seg = seg[:shape[0]*shape[1]*shape[2]]
				}
				return seg, shape, g
			},
			wants: []string{"ev_003.nii.gz has shape", "not on the reference's grid"},
		},
		{
			name: "geometry mismatch",
			edit: func(n string, seg []int32, shape [3]int, g imageio.Geometry) ([]int32, [3]int, imageio.Geometry) {
				if strings.HasPrefix(n, "ev_001") {
					g.NIfTI.QoffsetX += 5
					g.NIfTI.SrowX[3] += 5
				}
				return seg, shape, g
			},
			wants: []string{"ev_001.nii.gz and reference", "affine differs"},
		},
		{
			name:  "nothing to evaluate",
			opt:   func(o FolderOptions) FolderOptions { o.FileEnding = ".nrrd"; return o },
			wants: []string{"no *.nrrd files"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := opt
			if tc.opt != nil {
				o = tc.opt(o)
			}
			_, err := Folder(context.Background(), copyPredictions(t, refDir, tc.edit), refDir, o)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}

	t.Run("chill evaluates the predictions present", func(t *testing.T) {
		pred := copyPredictions(t, refDir, func(n string, seg []int32, shape [3]int, g imageio.Geometry) ([]int32, [3]int, imageio.Geometry) {
			if strings.HasPrefix(n, "ev_002") {
				return nil, shape, g
			}
			return seg, shape, g
		})
		o := opt
		o.Chill = true
		s, err := Folder(context.Background(), pred, refDir, o)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Cases) != 2 {
			t.Errorf("%d cases, want 2", len(s.Cases))
		}
	})
}

func TestStage(t *testing.T) {
	root := synthDataset(t)
	refDir := filepath.Join(root, "labelsTs")
	pred := copyPredictions(t, refDir, nil)
	s := New()
	outs, err := s.Outputs(nil)
	if err != nil || len(outs) != 1 || outs[0].Name != OutputSummary || outs[0].Path != SummaryFile {
		t.Fatalf("outputs %+v, %v", outs, err)
	}
	for _, tc := range []struct {
		name string
		with stage.Values
		keys []string // class keys in summary.json's mean
		err  string
	}{
		{"dataset.json", stage.Values{"dataset_json": filepath.Join(root, "dataset.json")}, []string{"1", "2"}, ""},
		{"classes", stage.Values{"classes": []any{int64(2)}, "ignore_label": int64(3)}, []string{"2"}, ""},
		{"no labels", stage.Values{}, nil, "set dataset_json"},
		{"both", stage.Values{"dataset_json": filepath.Join(root, "dataset.json"), "classes": []any{int64(1)}}, nil, "not both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			with := stage.Values{"predictions": pred, "labels": refDir, "file_ending": "", "chill": false}
			for k, v := range tc.with {
				with[k] = v
			}
			out := t.TempDir()
			err := s.Run(context.Background(), &stage.Request{With: with, OutDir: out, Threads: 2, Log: hclog.NewNullLogger()})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			doc, err := pyjson.ReadObject(filepath.Join(out, SummaryFile))
			if err != nil {
				t.Fatal(err)
			}
			if got := doc.Keys(); strings.Join(got, ",") != "foreground_mean,mean,metric_per_case" {
				t.Errorf("summary keys %v", got)
			}
			mean, _ := doc.Get("mean")
			if got := mean.(*pyjson.Object).Keys(); strings.Join(got, ",") != strings.Join(tc.keys, ",") {
				t.Errorf("mean keys %v, want %v", got, tc.keys)
			}
			fg, _ := doc.Get("foreground_mean")
			if d, _ := fg.(*pyjson.Object).Get("Dice"); d != 1.0 {
				t.Errorf("foreground mean Dice %v, want 1", d)
			}
		})
	}
}

func TestReadDatasetJSON(t *testing.T) {
	for _, tc := range []struct {
		name   string
		json   string
		keys   []string
		ignore Ignore
		ending string
		err    string
	}{
		{"labels", `{"labels": {"background": 0, "b": 2, "a": 1}, "file_ending": ".nii"}`, []string{"1", "2"}, Ignore{}, ".nii", ""},
		{"ignore", `{"labels": {"background": 0, "a": 1, "ignore": 2}}`, []string{"1"}, IgnoreLabel(2), ".nii.gz", ""},
		{"regions", `{"labels": {"background": [0], "whole": [1, 2, 3], "core": [2, 3], "enh": 3, "one": [1]}, "regions_class_order": [1, 2, 3, 1]}`,
			[]string{"(1, 2, 3)", "(2, 3)", "3", "(1,)"}, Ignore{}, ".nii.gz", ""},
		{"no foreground", `{"labels": {"background": 0}}`, nil, Ignore{}, "", "no foreground"},
		{"bad value", `{"labels": {"background": 0, "a": "x"}}`, nil, Ignore{}, "", `labels["a"]`},
		{"no labels", `{"file_ending": ".nii.gz"}`, nil, Ignore{}, "", `"labels" is missing`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dataset.json")
			if err := os.WriteFile(path, []byte(tc.json), 0o644); err != nil {
				t.Fatal(err)
			}
			info, err := ReadDatasetJSON(path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), path) {
					t.Fatalf("error %v, want %q naming the file", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, c := range info.Classes {
				keys = append(keys, c.Key())
			}
			if strings.Join(keys, "|") != strings.Join(tc.keys, "|") || info.Ignore != tc.ignore || info.FileEnding != tc.ending {
				t.Errorf("got %v %+v %q, want %v %+v %q", keys, info.Ignore, info.FileEnding, tc.keys, tc.ignore, tc.ending)
			}
		})
	}
}
