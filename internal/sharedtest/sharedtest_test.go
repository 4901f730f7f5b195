package sharedtest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestListedCases(t *testing.T) {
	tests := []struct {
		name    string
		content *string // nil: no CASES.txt
		want    []string
		wantOK  bool
	}{
		{"absent", nil, nil, false},
		{"empty", ptr(""), nil, true},
		{"comments and blanks", ptr("# header\n\nhippocampus_001\n  hippocampus_003  \n#x\nhippocampus_002"), []string{"hippocampus_001", "hippocampus_003", "hippocampus_002"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.content != nil {
				if err := os.WriteFile(filepath.Join(dir, "CASES.txt"), []byte(*tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, ok := ListedCases(t, dir)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ids differ (-want +got):\n%s", diff)
			}
		})
	}
}

func ptr(s string) *string { return &s }

// TestRawDataset: a golden dataset that holds its images is returned as is;
// a hippocampus one becomes a folder named like it with its dataset.json
// and one resolvable image and label link per listed case.
func TestRawDataset(t *testing.T) {
	if got, want := RawDataset(t, "Dataset503_SynthMR"), Path(t, "golden", "raw", "Dataset503_SynthMR"); got != want {
		t.Errorf("RawDataset(Dataset503_SynthMR) = %s, want %s", got, want)
	}
	const name = "Dataset005_HippoFine"
	dir := RawDataset(t, name)
	if filepath.Base(dir) != name {
		t.Errorf("folder %s is not named %s", dir, name)
	}
	raw := Path(t, "golden", "raw", name)
	want, err := os.ReadFile(filepath.Join(raw, "dataset.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "dataset.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Error("dataset.json is not a copy of the golden one")
	}
	ids, _ := ListedCases(t, raw)
	if len(ids) == 0 {
		t.Fatalf("%s lists no cases", raw)
	}
	for _, sub := range []string{"imagesTr", "labelsTr"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != len(ids) {
			t.Errorf("%s: %d files, want %d", sub, len(entries), len(ids))
		}
		for _, e := range entries {
			if _, err := os.Stat(filepath.Join(dir, sub, e.Name())); err != nil {
				t.Errorf("%s/%s does not resolve: %v", sub, e.Name(), err)
			}
		}
	}
}
