package plan

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"
	"github.com/nnrunner/nnrunner/internal/sharedtest"
	"github.com/nnrunner/nnrunner/pipeline/stage"
)

var goldenDatasets = []string{
	"Dataset004_HippoPre", "Dataset005_HippoFine",
	"Dataset501_SynthCTPre", "Dataset502_SynthCTFine", "Dataset503_SynthMR",
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
	golden := sharedtest.Path(t, "golden")
	for _, name := range goldenDatasets {
		t.Run(name, func(t *testing.T) {
			up := filepath.Join(golden, "upstream", name)
			raw := sharedtest.RawDataset(t, name)
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
