package subset

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/nnrunner/nnrunner/pipeline/stage"
	"github.com/nnrunner/nnrunner/stages/dataset"
	"github.com/nnrunner/nnrunner/stages/synthesize"
)

func TestChoose(t *testing.T) {
	lists := map[string][]string{"pre": {"a", "b", "c"}, "ft": {"d", "e", "f", "g"}}
	for _, tc := range []struct {
		name        string
		sel         Selection
		train, test []string
		err         string
	}{
		{"all of one list", Selection{Train: "pre"}, []string{"a", "b", "c"}, nil, ""},
		{"split one list", Selection{Train: "ft", TrainCount: 2, Test: "ft"}, []string{"d", "e"}, []string{"f", "g"}, ""},
		{"limit held-out", Selection{Train: "ft", TrainCount: 2, Test: "ft", TestCount: 1}, []string{"d", "e"}, []string{"f"}, ""},
		{"two lists", Selection{Train: "pre", Test: "ft", TestCount: 2}, []string{"a", "b", "c"}, []string{"d", "e"}, ""},
		{"unknown list", Selection{Train: "x"}, nil, nil, `no case list "x" (lists: ft, pre)`},
		{"too many", Selection{Train: "pre", TrainCount: 4}, nil, nil, "has 3 cases, fewer than the 4"},
		{"nothing held out", Selection{Train: "pre", Test: "pre"}, nil, nil, "leaves no held-out case"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			train, test, err := Choose(lists, tc.sel, "lists.json")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(train, tc.train) || !slices.Equal(test, tc.test) {
				t.Errorf("got %v / %v, want %v / %v", train, test, tc.train, tc.test)
			}
		})
	}
}

func TestStage(t *testing.T) {
	src, err := synthesize.Generate(context.Background(), t.TempDir(), synthesize.Config{
		Name: "Dataset992_Src", Modality: synthesize.MR, Channels: 2, Prefix: "s", Train: 5, Seed: 3,
		Shape: [3]int{8, 8, 8}, Spacing: [3]float64{1, 1, 1},
	}, 2)
	if err != nil {
		t.Fatal(err)
	}
	lists := filepath.Join(t.TempDir(), "splits.json")
	if err := os.WriteFile(lists, []byte(`{"note": "x", "ft": ["s_003", "s_001", "s_004", "s_000"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	with := stage.Values{"dataset": src, "lists": lists, "name": "Dataset993_Sub", "train": "ft", "train_count": int64(2), "test": "ft", "test_count": int64(1)}
	if err := New().Run(context.Background(), &stage.Request{With: with, OutDir: out, Threads: 1, Log: hclog.NewNullLogger()}); err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.Load(filepath.Join(out, "Dataset993_Sub"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range ds.Cases {
		ids = append(ids, c.ID)
		if len(c.Images) != 2 {
			t.Errorf("case %s has %d channel files, want 2", c.ID, len(c.Images))
		}
	}
	if !slices.Equal(ids, []string{"s_001", "s_003"}) || ds.NumTraining != 2 {
		t.Errorf("training cases %v (numTraining %d), want s_001, s_003", ids, ds.NumTraining)
	}
	for _, f := range []string{"imagesTs/s_004_0000.nii.gz", "imagesTs/s_004_0001.nii.gz", "labelsTs/s_004.nii.gz"} {
		want, err := os.ReadFile(filepath.Join(src, strings.Replace(f, "Ts", "Tr", 1)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(out, "Dataset993_Sub", f))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s is not a copy of the source file", f)
		}
	}
	if _, err := dataset.Verify(context.Background(), filepath.Join(out, "Dataset993_Sub"), 1); err != nil {
		t.Errorf("subset fails verification: %v", err)
	}

	with["train"] = "missing"
	err = New().Run(context.Background(), &stage.Request{With: with, OutDir: t.TempDir(), Threads: 1, Log: hclog.NewNullLogger()})
	if err == nil || !strings.Contains(err.Error(), `no case list "missing"`) || !strings.Contains(err.Error(), lists) {
		t.Errorf("unknown list: error %v", err)
	}
}
