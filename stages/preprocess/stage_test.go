package preprocess

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"

	"github.com/nnrunner/nnrunner/pipeline/stage"
	"github.com/nnrunner/nnrunner/stages/npy"
)

func request(t *testing.T, with stage.Values) *stage.Request {
	t.Helper()
	return &stage.Request{With: with, OutDir: t.TempDir(), Threads: 2, Log: hclog.NewNullLogger()}
}

// TestStageSynthMR runs the stage on the golden 503 raw dataset and compares
// the stored arrays of mr_000 with upstream's.
func TestStageSynthMR(t *testing.T) {
	shared := sharedDir(t)
	up := filepath.Join(shared, "golden", "upstream", "Dataset503_SynthMR")
	req := request(t, stage.Values{
		"dataset":        filepath.Join(shared, "golden", "raw", "Dataset503_SynthMR"),
		"plans":          filepath.Join(up, "nnUNetPlans.json"),
		"configurations": []any{"3d_fullres", "2d"},
		"max_in_flight":  int64(2),
	})
	if err := New().Run(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	for _, folder := range []string{"nnUNetPlans_3d_fullres", "nnUNetPlans_2d"} {
		dir := filepath.Join(req.OutDir, OutputData, folder)
		files, err := filepath.Glob(filepath.Join(dir, "mr_*.npy"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != 10 {
			t.Errorf("%s: %d .npy files, want 10 (5 cases, data + seg)", folder, len(files))
		}
		got, err := npy.ReadFile(filepath.Join(dir, "mr_000.npy"))
		if err != nil {
			t.Fatal(err)
		}
		want, err := npy.ReadFile(filepath.Join(up, folder, "mr_000_data.npy"))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want.Shape, got.Shape); diff != "" {
			t.Errorf("%s data shape (-want +got):\n%s", folder, diff)
		}
		gs, err := npy.ReadFile(filepath.Join(dir, "mr_000_seg.npy"))
		if err != nil {
			t.Fatal(err)
		}
		if gs.Descr != "|i1" {
			t.Errorf("%s seg dtype %s, want int8", folder, gs.Descr)
		}
		ws, _ := npy.ReadFile(filepath.Join(up, folder, "mr_000_seg.npy"))
		a, _ := ws.Int64s()
		b, _ := gs.Int64s()
		if diff := cmp.Diff(a, b); diff != "" {
			t.Errorf("%s seg differs", folder)
		}
		loaded, err := Load(dir, "mr_000")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(b, int16sTo64(loaded.Seg)); diff != "" {
			t.Errorf("%s: Load returned another segmentation", folder)
		}
		props := &loaded.Properties
		wp, err := readGoldenProperties(filepath.Join(up, folder, "mr_000_properties.json"))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(wp.ClassLocations, props.ClassLocations); diff != "" {
			t.Errorf("%s class locations differ after a JSON round trip", folder)
		}
	}
	m, err := ReadManifest(filepath.Join(req.OutDir, OutputData))
	if err != nil {
		t.Fatal(err)
	}
	dir, cases, err := m.Folder(filepath.Join(req.OutDir, OutputData), "2d")
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(dir) != "nnUNetPlans_2d" || len(cases) != 5 || cases[0].ID != "mr_000" || cases[0].SegDtype != "int8" {
		t.Errorf("manifest 2d: folder %s, cases %+v", dir, cases)
	}
	if _, _, err := m.Folder(req.OutDir, "3d_lowres"); err == nil {
		t.Error("manifest: want an error for a configuration that was not preprocessed")
	}
	for _, f := range []string{ManifestFile, DatasetFile} {
		if _, err := os.Stat(filepath.Join(req.OutDir, OutputData, f)); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(req.OutDir, plansPath)); err != nil {
		t.Error(err)
	}
}

// failingWriter accepts budget bytes and then fails like a full disk.
type failingWriter struct {
	f      *os.File
	budget *int
}

var errDiskFull = errors.New("no space left on device")

func (w failingWriter) Write(p []byte) (int, error) {
	if len(p) > *w.budget {
		n, _ := w.f.Write(p[:*w.budget])
		*w.budget = 0
		return n, errDiskFull
	}
	*w.budget -= len(p)
	return w.f.Write(p)
}

func (w failingWriter) Close() error { return w.f.Close() }

func TestStageBadInput(t *testing.T) {
	shared := sharedDir(t)
	golden := filepath.Join(shared, "golden")
	mr := filepath.Join(golden, "raw", "Dataset503_SynthMR")
	mrPlans := filepath.Join(golden, "upstream", "Dataset503_SynthMR", "nnUNetPlans.json")

	// A plans file naming an unknown normalization scheme.
	raw, err := os.ReadFile(mrPlans)
	if err != nil {
		t.Fatal(err)
	}
	unknown := filepath.Join(t.TempDir(), "plans.json")
	if err := os.WriteFile(unknown, []byte(strings.ReplaceAll(string(raw), "ZScoreNormalization", "FancyNormalization")), 0o644); err != nil {
		t.Fatal(err)
	}

	// A dataset whose first label file belongs to another case (other shape).
	mismatch := t.TempDir()
	for _, d := range []string{"imagesTr", "labelsTr"} {
		if err := os.Mkdir(filepath.Join(mismatch, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := func(src, dst string) {
		if err := os.Symlink(src, filepath.Join(mismatch, dst)); err != nil {
			t.Fatal(err)
		}
	}
	link(filepath.Join(mr, "dataset.json"), "dataset.json")
	for _, c := range []string{"0000", "0001"} {
		link(filepath.Join(mr, "imagesTr", "mr_000_"+c+".nii.gz"), filepath.Join("imagesTr", "mr_000_"+c+".nii.gz"))
	}
	link(filepath.Join(mr, "labelsTr", "mr_001.nii.gz"), filepath.Join("labelsTr", "mr_000.nii.gz"))

	tests := []struct {
		name    string
		with    stage.Values
		budget  int // bytes the disk accepts; 0 means unlimited
		wantErr string
	}{
		{"plans for another channel count", stage.Values{"dataset": mr, "plans": filepath.Join(golden, "upstream", "Dataset501_SynthCTPre", "nnUNetPlans.json"), "configurations": []any{"3d_fullres"}}, 0, "normalizes 1 channels but dataset"},
		{"configuration not in plans", stage.Values{"dataset": mr, "plans": mrPlans, "configurations": []any{"3d_lowres"}}, 0, `configuration "3d_lowres" is not in plans`},
		{"unknown normalization", stage.Values{"dataset": mr, "plans": unknown, "configurations": []any{"3d_fullres"}}, 0, `unknown normalization scheme "FancyNormalization"`},
		{"image and label disagree", stage.Values{"dataset": mismatch, "plans": mrPlans, "configurations": []any{"3d_fullres"}}, 0, "image and label must share the grid"},
		{"disk full", stage.Values{"dataset": mr, "plans": mrPlans, "configurations": []any{"3d_fullres"}}, 200000, "no space left on device"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New()
			if tc.budget > 0 {
				budget := tc.budget
				var mu = make(chan struct{}, 1)
				s.create = func(p string) (io.WriteCloser, error) {
					mu <- struct{}{}
					defer func() { <-mu }()
					f, err := os.Create(p)
					if err != nil {
						return nil, err
					}
					return lockedWriter{failingWriter{f, &budget}, mu}, nil
				}
			}
			err := s.Run(context.Background(), request(t, tc.with))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			t.Log(err)
		})
	}
}

// lockedWriter serialises writes of concurrently written files that share
// one byte budget.
type lockedWriter struct {
	w  failingWriter
	mu chan struct{}
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu <- struct{}{}
	defer func() { <-l.mu }()
	return l.w.Write(p)
}

func (l lockedWriter) Close() error { return l.w.Close() }

func TestStageCancelled(t *testing.T) {
	shared := sharedDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := request(t, stage.Values{
		"dataset":        filepath.Join(shared, "golden", "raw", "Dataset503_SynthMR"),
		"plans":          filepath.Join(shared, "golden", "upstream", "Dataset503_SynthMR", "nnUNetPlans.json"),
		"configurations": []any{"3d_fullres"},
	})
	if err := New().Run(ctx, req); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want one wrapping context.Canceled", err)
	}
}

func int16sTo64(v []int16) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

// TestStageDeterministic runs the stage with different worker counts and
// compares every output file byte for byte.
func TestStageDeterministic(t *testing.T) {
	shared := sharedDir(t)
	var outs []string
	for _, w := range []int64{1, 3} {
		req := request(t, stage.Values{
			"dataset":        filepath.Join(shared, "golden", "raw", "Dataset502_SynthCTFine"),
			"plans":          filepath.Join(shared, "golden", "upstream", "Dataset502_SynthCTFine", "nnUNetPlans.json"),
			"configurations": []any{"2d"},
			"num_workers":    w,
			"max_in_flight":  int64(1),
		})
		if err := New().Run(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		outs = append(outs, req.OutDir)
	}
	n := 0
	err := filepath.WalkDir(outs[0], func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(outs[0], p)
		a, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(filepath.Join(outs[1], rel))
		if err != nil {
			return err
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between 1 and 3 workers", rel)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 18 {
		t.Errorf("compared %d files, want at least 18 (6 cases x 3)", n)
	}
}
