package plan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nnrunner/nnrunner/internal/sharedtest"
	"github.com/nnrunner/nnrunner/pipeline/stage"
	"github.com/nnrunner/nnrunner/stages/plans"
	"github.com/nnrunner/nnrunner/stages/pyjson"
)

func TestOutputs(t *testing.T) {
	outs, err := New().Outputs(stage.Values{"plans_name": "nnUNetPlans_small"})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, o := range outs {
		paths = append(paths, o.Name+"="+o.Path)
	}
	want := []string{"plans=nnUNetPlans_small.json", "splits=splits_final.json", "dataset_json=dataset.json"}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
	if _, err := New().Outputs(stage.Values{"plans_name": "../x"}); err == nil {
		t.Error("plans_name with a path separator accepted")
	}
}

// writeFingerprint writes a copy of the fingerprint at src with its
// spacings and shapes cut to n cases.
func writeFingerprint(t *testing.T, src string, n int, dropChannel bool) string {
	t.Helper()
	doc, err := pyjson.ReadObject(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"spacings", "shapes_after_crop"} {
		v, _ := doc.Get(k)
		doc.Set(k, v.([]any)[:n])
	}
	if dropChannel {
		v, _ := doc.Get("foreground_intensity_properties_per_channel")
		v.(*pyjson.Object).Delete("1")
	}
	p := filepath.Join(t.TempDir(), "dataset_fingerprint.json")
	if err := pyjson.WriteFile(p, doc, pyjson.Options{Indent: 4}); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBadInput: each rejected input gives a clear error and writes nothing.
func TestBadInput(t *testing.T) {
	golden := sharedtest.Path(t, "golden")
	up := filepath.Join(golden, "upstream")
	raw501 := filepath.Join(golden, "raw", "Dataset501_SynthCTPre")
	raw503 := filepath.Join(golden, "raw", "Dataset503_SynthMR")
	tests := []struct {
		name string
		with stage.Values
		want []string
	}{
		{"fingerprint of another dataset", stage.Values{"dataset": raw501, "fingerprint": filepath.Join(up, "Dataset502_SynthCTFine", "dataset_fingerprint.json")},
			[]string{"Dataset502_SynthCTFine/dataset_fingerprint.json describes 6 cases with 1 channels", "Dataset501_SynthCTPre/dataset.json lists 8 cases", "belongs to another dataset"}},
		{"mismatched channels", stage.Values{"dataset": raw503, "fingerprint": writeFingerprint(t, filepath.Join(up, "Dataset503_SynthMR", "dataset_fingerprint.json"), 5, true)},
			[]string{"describes 5 cases with 1 channels", "lists 5 cases with 2 channels"}},
		{"missing dataset.json", stage.Values{"dataset": t.TempDir(), "fingerprint": filepath.Join(up, "Dataset501_SynthCTPre")},
			[]string{"dataset.json is missing"}},
		{"unknown configuration", stage.Values{"dataset": raw501, "fingerprint": filepath.Join(up, "Dataset501_SynthCTPre"), "configurations": []any{"3d_midres"}},
			[]string{`unknown configuration "3d_midres"`}},
		{"bad override", stage.Values{"dataset": raw501, "fingerprint": filepath.Join(up, "Dataset501_SynthCTPre"), "overrides": map[string]any{"batchsize": int64(2)}},
			[]string{`"batchsize": unknown override`}},
		{"bad target spacing", stage.Values{"dataset": raw501, "fingerprint": filepath.Join(up, "Dataset501_SynthCTPre"), "overwrite_target_spacing": []any{1.0, 2.0}},
			[]string{"overwrite_target_spacing: want 3 numbers"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runStage(t, New(), tt.with)
			if err == nil {
				t.Fatal("succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if entries, _ := os.ReadDir(out); len(entries) != 0 {
				t.Errorf("wrote %d files despite the error", len(entries))
			}
		})
	}
}

// TestOverrides: overrides replace derived values before the topology is
// computed and are recorded in the plans.
func TestOverrides(t *testing.T) {
	golden := sharedtest.Path(t, "golden")
	out, err := runStage(t, New(), stage.Values{
		"dataset":        filepath.Join(golden, "raw", "Dataset501_SynthCTPre"),
		"fingerprint":    filepath.Join(golden, "upstream", "Dataset501_SynthCTPre"),
		"plans_name":     "nnUNetPlans_cpu",
		"configurations": []any{"3d_fullres"},
		"overrides":      map[string]any{"batch_size": int64(3), "patch_size": []any{int64(22), int64(48), int64(40)}, "features_base": int64(8), "features_max": int64(32)},
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := plans.Load(filepath.Join(out, "nnUNetPlans_cpu.json"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"3d_fullres"}, p.ConfigurationNames()); diff != "" {
		t.Errorf("configurations (-want +got):\n%s", diff)
	}
	c, err := p.Configuration("3d_fullres")
	if err != nil {
		t.Fatal(err)
	}
	// Spacing [3, 0.8265, 0.8265]: axis 0 is pooled twice (22 -> 24), the
	// in-plane axes three times (48, 40 stay).
	if diff := cmp.Diff([]int{24, 48, 40}, c.PatchSize); diff != "" {
		t.Errorf("patch_size (-want +got):\n%s", diff)
	}
	if c.BatchSize != 3 || c.DataIdentifier != "nnUNetPlans_cpu_3d_fullres" {
		t.Errorf("batch_size %d, data_identifier %q", c.BatchSize, c.DataIdentifier)
	}
	if diff := cmp.Diff([]int{8, 16, 32, 32}, c.Architecture.FeaturesPerStage); diff != "" {
		t.Errorf("features_per_stage (-want +got):\n%s", diff)
	}
	ov, err := p.Overrides()
	if err != nil {
		t.Fatal(err)
	}
	want := plans.Overrides{BatchSize: 3, PatchSize: []int{22, 48, 40}, FeaturesBase: 8, FeaturesMax: 32}
	if diff := cmp.Diff(want, ov); diff != "" {
		t.Errorf("recorded overrides (-want +got):\n%s", diff)
	}
}

// TestGPUMemoryTarget: a smaller memory target gives a smaller patch.
func TestGPUMemoryTarget(t *testing.T) {
	ds := DatasetInfo{Name: "Dataset993_FakeBigCT", Channels: []string{"CT"}, NumLabelKeys: 3, NumTraining: 6, ImageReaderWriter: "SimpleITKIO"}
	fp := makeFingerprint([][]float64{{0.78, 0.78, 2.5}, {0.7, 0.7, 2.0}, {0.9, 0.9, 3.0}, {0.8, 0.8, 2.5}, {0.75, 0.75, 2.5}, {0.82, 0.82, 2.5}},
		[][]int{{512, 512, 160}, {512, 512, 220}, {512, 512, 120}, {480, 500, 180}, {512, 512, 150}, {400, 420, 140}}, 0.9, 1)
	voxels := func(gb float64) int {
		p, err := Plan(ds, fp, Options{GPUMemoryTargetGB: gb, Configurations: []string{"3d_fullres"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		c, err := p.Configuration("3d_fullres")
		if err != nil {
			t.Fatal(err)
		}
		return c.PatchSize[0] * c.PatchSize[1] * c.PatchSize[2]
	}
	if small, big := voxels(2), voxels(8); small >= big {
		t.Errorf("patch voxels at 2 GB = %d, at 8 GB = %d; want fewer at 2 GB", small, big)
	}
}

// TestRawSplits: a raw dataset's own splits_final.json is copied unchanged;
// one naming unknown cases is rejected.
func TestRawSplits(t *testing.T) {
	golden := sharedtest.Path(t, "golden")
	src := filepath.Join(golden, "raw", "Dataset503_SynthMR")
	dir := filepath.Join(t.TempDir(), "Dataset503_SynthMR")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"imagesTr", "labelsTr", "dataset.json"} {
		if err := os.Symlink(filepath.Join(src, n), filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	fp := filepath.Join(golden, "upstream", "Dataset503_SynthMR")
	own := `[{"train": ["mr_000", "mr_001", "mr_002"], "val": ["mr_003", "mr_004"]}]`
	if err := os.WriteFile(filepath.Join(dir, SplitsFile), []byte(own), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runStage(t, New(), stage.Values{"dataset": dir, "fingerprint": fp})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(out, SplitsFile)); string(got) != own {
		t.Errorf("splits = %s, want the raw file unchanged", got)
	}
	bad := strings.Replace(own, "mr_004", "mr_005", 1)
	if err := os.WriteFile(filepath.Join(dir, SplitsFile), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runStage(t, New(), stage.Values{"dataset": dir, "fingerprint": fp}); err == nil || !strings.Contains(err.Error(), `"mr_005", which is not in the dataset`) {
		t.Errorf("error = %v, want one naming mr_005", err)
	}
}
