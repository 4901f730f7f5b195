package transfer

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"
	"github.com/nnrunner/nnrunner/internal/sharedtest"
	"github.com/nnrunner/nnrunner/pipeline/stage"
	"github.com/nnrunner/nnrunner/stages/plan"
	"github.com/nnrunner/nnrunner/stages/plans"
	"github.com/nnrunner/nnrunner/stages/pyjson"
)

func run(t *testing.T, s stage.Stage, with stage.Values, log hclog.Logger) (string, error) {
	t.Helper()
	if log == nil {
		log = hclog.NewNullLogger()
	}
	out := t.TempDir()
	return out, s.Run(context.Background(), &stage.Request{With: with, OutDir: out, Threads: 1, Log: log})
}

// TestGolden moves the finetuning plans to the pretraining dataset (502 ->
// 501, 005 -> 004) from upstream's plans and from the plans our plan stage
// makes; the result must be byte-identical to upstream's
// nnUNetPlans_pretrain.json, and dataset.json the target's raw one.
func TestGolden(t *testing.T) {
	golden := sharedtest.Path(t, "golden")
	up := filepath.Join(golden, "upstream")
	for _, pair := range [][2]string{{"Dataset502_SynthCTFine", "Dataset501_SynthCTPre"}, {"Dataset005_HippoFine", "Dataset004_HippoPre"}} {
		src, dst := pair[0], pair[1]
		srcRaw, dstRaw := sharedtest.RawDataset(t, src), sharedtest.RawDataset(t, dst)
		planned, err := run(t, plan.New(), stage.Values{"dataset": srcRaw, "fingerprint": filepath.Join(up, src, "dataset_fingerprint.json")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, from := range []string{filepath.Join(up, src, "nnUNetPlans.json"), filepath.Join(planned, "nnUNetPlans.json")} {
			t.Run(src+"->"+dst+"/"+map[bool]string{true: "upstream plans", false: "our plans"}[strings.HasPrefix(from, up)], func(t *testing.T) {
				out, err := run(t, New(), stage.Values{
					"plans": from, "dataset": dstRaw, "fingerprint": filepath.Join(up, dst, "dataset_fingerprint.json"),
					"plans_name": "nnUNetPlans_pretrain", "configurations": []any{"3d_fullres", "2d"},
				}, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range [][2]string{
					{"nnUNetPlans_pretrain.json", filepath.Join(up, dst, "nnUNetPlans_pretrain.json")},
					{"dataset.json", filepath.Join(dstRaw, "dataset.json")},
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
}

// TestMove checks the data_identifier rule of spec §6 / B.6.
func TestMove(t *testing.T) {
	golden := sharedtest.Path(t, "golden")
	src, err := plans.Load(filepath.Join(golden, "upstream", "Dataset502_SynthCTFine", "nnUNetPlans.json"))
	if err != nil {
		t.Fatal(err)
	}
	raw2d, _ := src.RawConfiguration("2d")
	custom := raw2d.Clone()
	custom.Set("data_identifier", "custom_2d")
	src.SetConfiguration("custom", custom)
	src.SetConfiguration("3d_cascade_like", mustObject(t, `{"inherits_from": "3d_fullres", "batch_size": 4}`))
	tests := []struct {
		plansName string
		want      map[string]string
	}{
		{"nnUNetPlansFrom991", map[string]string{"2d": "nnUNetPlansFrom991_2d", "3d_fullres": "nnUNetPlansFrom991_3d_fullres",
			"custom": "nnUNetPlansFrom991_custom_2d", "3d_cascade_like": "nnUNetPlansFrom991_3d_fullres"}},
		{"nnUNetPlans", map[string]string{"2d": "nnUNetPlans_2d", "3d_fullres": "nnUNetPlans_3d_fullres", "custom": "custom_2d"}},
	}
	for _, tt := range tests {
		moved, err := Move(src, "Dataset990_Pretrain", tt.plansName, "NibabelIO")
		if err != nil {
			t.Fatal(err)
		}
		if moved.DatasetName() != "Dataset990_Pretrain" || moved.PlansName() != tt.plansName || moved.ImageReaderWriter() != "NibabelIO" {
			t.Errorf("header: %s %s %s", moved.DatasetName(), moved.PlansName(), moved.ImageReaderWriter())
		}
		for name, want := range tt.want {
			c, err := moved.Configuration(name)
			if err != nil {
				t.Fatal(err)
			}
			if c.DataIdentifier != want {
				t.Errorf("plans %s: %s data_identifier = %q, want %q", tt.plansName, name, c.DataIdentifier, want)
			}
		}
		if raw, _ := moved.RawConfiguration("3d_cascade_like"); raw.Has("data_identifier") {
			t.Error("a configuration without data_identifier got one")
		}
	}
	if src.DatasetName() != "Dataset502_SynthCTFine" || raw2d.Has("x") {
		t.Error("Move modified its source")
	}
	if c, _ := src.Configuration("2d"); c.DataIdentifier != "nnUNetPlans_2d" {
		t.Error("Move modified its source's configurations")
	}
}

func mustObject(t *testing.T, s string) *pyjson.Object {
	t.Helper()
	v, err := pyjson.Unmarshal([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return v.(*pyjson.Object)
}

// TestBadInput: each rejected input gives a clear error and writes nothing.
func TestBadInput(t *testing.T) {
	golden := sharedtest.Path(t, "golden")
	up := filepath.Join(golden, "upstream")
	raw := func(n string) string { return filepath.Join(golden, "raw", n) }
	brokenPlans := filepath.Join(t.TempDir(), "broken.json")
	b, _ := os.ReadFile(filepath.Join(up, "Dataset502_SynthCTFine", "nnUNetPlans.json"))
	b = bytes.Replace(b, []byte(`"2d": {`), []byte(`"3d_cascade_fullres": {"inherits_from": "3d_lowres", "previous_stage": "3d_lowres"}, "2d": {`), 1)
	if err := os.WriteFile(brokenPlans, b, 0o644); err != nil {
		t.Fatal(err)
	}
	base := func(plansPath, target, fp string) stage.Values {
		return stage.Values{"plans": plansPath, "dataset": raw(target), "fingerprint": filepath.Join(up, fp), "plans_name": "nnUNetPlans_pretrain"}
	}
	withConfigs := base(filepath.Join(up, "Dataset502_SynthCTFine", "nnUNetPlans.json"), "Dataset501_SynthCTPre", "Dataset501_SynthCTPre")
	withConfigs["configurations"] = []any{"3d_fullres", "3d_lowres"}
	tests := []struct {
		name string
		with stage.Values
		want []string
	}{
		{"mismatched channels", base(filepath.Join(up, "Dataset503_SynthMR", "nnUNetPlans.json"), "Dataset501_SynthCTPre", "Dataset501_SynthCTPre"),
			[]string{"normalises 2 channels", "Dataset501_SynthCTPre has 1 (CT)"}},
		{"plans missing a required configuration", withConfigs,
			[]string{`source plans must contain configuration "3d_lowres"`, `has no configuration "3d_lowres" (available: 2d, 3d_fullres)`}},
		{"plans inheriting from a missing configuration", base(brokenPlans, "Dataset501_SynthCTPre", "Dataset501_SynthCTPre"),
			[]string{"broken.json has no configuration \"3d_lowres\""}},
		{"fingerprint of another dataset", base(filepath.Join(up, "Dataset502_SynthCTFine", "nnUNetPlans.json"), "Dataset501_SynthCTPre", "Dataset503_SynthMR"),
			[]string{"belongs to another dataset"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(t, New(), tt.with, nil)
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

// TestSchemeWarning: moving CT plans to an MRI dataset warns, naming both
// schemes.
func TestSchemeWarning(t *testing.T) {
	golden := sharedtest.Path(t, "golden")
	up := filepath.Join(golden, "upstream")
	var buf bytes.Buffer
	log := hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Warn})
	_, err := run(t, New(), stage.Values{
		"plans": filepath.Join(up, "Dataset502_SynthCTFine", "nnUNetPlans.json"), "dataset": sharedtest.RawDataset(t, "Dataset005_HippoFine"),
		"fingerprint": filepath.Join(up, "Dataset005_HippoFine"), "plans_name": "nnUNetPlans_fromCT",
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"CTNormalization", "ZScoreNormalization", "MRI"} {
		if !strings.Contains(buf.String(), w) {
			t.Errorf("warning %q does not mention %q", buf.String(), w)
		}
	}
	if strings.Count(buf.String(), "normalisation differs") != 1 {
		t.Errorf("want one warning per channel, got:\n%s", buf.String())
	}
}
