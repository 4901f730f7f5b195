package evaluate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestWriteFile compares summary.json byte for byte with the file Python's
// json.dump(sort_keys=True, indent=4) wrote for the same metrics
// (testdata/summary.json; NaN, int counts, float means).
func TestWriteFile(t *testing.T) {
	s, err := Summarize([]Class{Label(1), Region(1, 2)}, []Case{
		{Prediction: "p/a.nii.gz", Reference: "r/a.nii.gz", Counts: []Counts{{TP: 1, FP: 1, FN: 2, TN: 2}, {TP: 2, TN: 4}}},
		{Prediction: "p/b.nii.gz", Reference: "r/b.nii.gz", Counts: []Counts{{TN: 6}, {FP: 3, TN: 3}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), SummaryFile)
	if err := s.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("summary.json (-python +go):\n%s", diff)
	}
	table := s.Table()
	for _, want := range []string{"(1, 2)", "0.5000", "foreground mean", "0.4500", "(2 cases)"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
}
