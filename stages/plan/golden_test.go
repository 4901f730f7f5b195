package plan

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"
	"github.com/nnrunner/nnrunner/pipeline/stage"
)

// sharedDir returns ../shared relative to the repository root, skipping the
// test when it is absent.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("repository root (go.mod) not found")
		}
		dir = parent
	}
	s := filepath.Join(dir, "..", "shared")
	if _, err := os.Stat(filepath.Join(s, "golden")); err != nil {
		t.Skipf("golden data not available under %s", s)
	}
	return s
}

var goldenDatasets = []string{
	"Dataset004_HippoPre", "Dataset005_HippoFine",
	"Dataset501_SynthCTPre", "Dataset502_SynthCTFine", "Dataset503_SynthMR",
}

// GoldenRaw returns a raw dataset folder for a golden dataset: the golden
// raw folder itself, or for the hippocampus sets (which list their cases in
// CASES.txt) a temporary folder named like the dataset with dataset.json
// and symlinks to the MSD images and labels.
func goldenRaw(t *testing.T, shared, name string) string {
	t.Helper()
	raw := filepath.Join(shared, "golden", "raw", name)
	f, err := os.Open(filepath.Join(raw, "CASES.txt"))
	if err != nil {
		return raw
	}
	defer f.Close()
	msd := filepath.Join(shared, "data", "msd-hippocampus")
	dir := filepath.Join(t.TempDir(), name)
	for _, sub := range []string{"imagesTr", "labelsTr"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(raw, "dataset.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dataset.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	s := bufio.NewScanner(f)
	for s.Scan() {
		id := strings.TrimSpace(s.Text())
		if id == "" || strings.HasPrefix(id, "#") {
			continue
		}
		for _, l := range [][2]string{{"imagesTr", id + "_0000.nii.gz"}, {"labelsTr", id + ".nii.gz"}} {
			if err := os.Symlink(filepath.Join(msd, l[0], l[1]), filepath.Join(dir, l[0], l[1])); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// runStage runs a stage with the given parameters into a fresh folder.
func runStage(t *testing.T, s stage.Stage, with stage.Values) (string, error) {
	t.Helper()
	out := t.TempDir()
	err := s.Run(context.Background(), &stage.Request{With: with, OutDir: out, Threads: 1, Log: hclog.NewNullLogger()})
	return out, err
}

// TestGoldenPlans runs the plan stage on every golden dataset with
// upstream's fingerprint; plans and splits must be byte-identical to
// upstream's, dataset.json a byte copy of the raw one.
func TestGoldenPlans(t *testing.T) {
	shared := sharedDir(t)
	for _, name := range goldenDatasets {
		t.Run(name, func(t *testing.T) {
			up := filepath.Join(shared, "golden", "upstream", name)
			raw := goldenRaw(t, shared, name)
			out, err := runStage(t, New(), stage.Values{
				"dataset":     raw,
				"fingerprint": filepath.Join(up, "dataset_fingerprint.json"),
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range [][2]string{
				{"nnUNetPlans.json", filepath.Join(up, "nnUNetPlans.json")},
				{SplitsFile, filepath.Join(up, SplitsFile)},
				{DatasetFile, filepath.Join(raw, DatasetFile)},
			} {
				want, err := os.ReadFile(f[1])
				if err != nil {
					t.Fatal(err)
				}
				got, err := os.ReadFile(filepath.Join(out, f[0]))
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(string(want), string(got)); diff != "" {
					t.Errorf("%s differs (-upstream +ours):\n%s", f[0], diff)
				}
			}
		})
	}
}
