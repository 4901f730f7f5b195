package splits

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nnrunner/nnrunner/internal/sharedtest"
)

func cases(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("case_%03d", i)
	}
	return ids
}

// TestKFoldAppendixB checks spec Appendix B.1: generate_crossval_split on
// case_000..case_008.
func TestKFoldAppendixB(t *testing.T) {
	ids := cases(9)
	folds, err := Default(ids)
	if err != nil {
		t.Fatal(err)
	}
	wantVal := [][]string{
		{"case_000", "case_003"}, {"case_006", "case_008"}, {"case_001", "case_004"},
		{"case_005", "case_007"}, {"case_002"},
	}
	for f, want := range wantVal {
		if diff := cmp.Diff(want, folds[f].Val); diff != "" {
			t.Errorf("fold %d val (-want +got):\n%s", f, diff)
		}
		if len(folds[f].Train)+len(want) != 9 {
			t.Errorf("fold %d: %d train cases, want %d", f, len(folds[f].Train), 9-len(want))
		}
	}
}

func TestRandom8020AppendixB(t *testing.T) {
	// RandomState(12350).choice(9, 7, replace=False) = [0, 7, 4, 5, 3, 8, 6].
	f, err := Random8020(cases(9), 5)
	if err != nil {
		t.Fatal(err)
	}
	want := Fold{
		Train: []string{"case_000", "case_007", "case_004", "case_005", "case_003", "case_008", "case_006"},
		Val:   []string{"case_001", "case_002"},
	}
	if diff := cmp.Diff(want, f); diff != "" {
		t.Errorf("Random8020 (-want +got):\n%s", diff)
	}
	folds, _ := Default(cases(9))
	if got, _ := Select(folds, 5, cases(9)); !cmp.Equal(got, want) {
		t.Errorf("Select(5) = %v, want the 80:20 split", got)
	}
	if got, _ := Select(folds, 2, cases(9)); !cmp.Equal(got, folds[2]) {
		t.Errorf("Select(2) = %v, want fold 2", got)
	}
}

func TestTooFewCases(t *testing.T) {
	if _, err := Default(cases(4)); err == nil {
		t.Error("5 folds from 4 cases succeeded, want an error")
	}
}

// goldenCases lists a golden dataset's case identifiers: CASES.txt when
// present (hippocampus), otherwise the labelsTr file names.
func goldenCases(t *testing.T, raw string) []string {
	t.Helper()
	if ids, ok := sharedtest.ListedCases(t, raw); ok {
		return ids
	}
	labels, err := filepath.Glob(filepath.Join(raw, "labelsTr", "*.nii.gz"))
	if err != nil || len(labels) == 0 {
		t.Fatalf("no cases under %s", raw)
	}
	ids := make([]string, len(labels))
	for i, l := range labels {
		ids[i] = strings.TrimSuffix(filepath.Base(l), ".nii.gz")
	}
	return ids
}

// TestGolden: our splits_final.json is byte-identical to upstream's.
func TestGolden(t *testing.T) {
	root := sharedtest.Path(t, "golden")
	dirs, _ := filepath.Glob(filepath.Join(root, "upstream", "Dataset*"))
	for _, d := range dirs {
		name := filepath.Base(d)
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(d, "splits_final.json"))
			if err != nil {
				t.Skip(err)
			}
			folds, err := Default(goldenCases(t, filepath.Join(root, "raw", name)))
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "splits_final.json")
			if err := Save(out, folds); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(out)
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("splits differ (-upstream +ours):\n%s", diff)
			}
			back, err := Load(out)
			if err != nil {
				t.Fatal(err)
			}
			if !cmp.Equal(back, folds) {
				t.Error("Load(Save(folds)) != folds")
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	for _, text := range []string{`{}`, `[]`, `[{"train": []}]`, `[{"train": [1], "val": []}]`, `[3]`} {
		p := filepath.Join(t.TempDir(), "splits.json")
		os.WriteFile(p, []byte(text), 0o644)
		if _, err := Load(p); err == nil {
			t.Errorf("Load(%s) succeeded, want an error", text)
		}
	}
}
