// Package sharedtest locates the read-only reference data in ../shared for
// tests and benchmarks.
//
// The reference data lives next to the repository root (the folder holding
// go.mod), never inside it; product code must not depend on it. Every helper
// skips the calling test or benchmark with a message naming the expected
// path when the data is absent.
package sharedtest

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Dir returns ../shared next to the repository root, found by walking up
// from the working directory to the folder holding go.mod. It skips tb when
// either is absent.
func Dir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatalf("working directory: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Skip("repository root (folder holding go.mod) not found above the working directory")
		}
		dir = parent
	}
	shared := filepath.Join(filepath.Dir(dir), "shared")
	if _, err := os.Stat(shared); err != nil {
		tb.Skipf("reference data not available: expected %s next to the repository root", shared)
	}
	return shared
}

// Path returns the path elem... inside ../shared (for example
// Path(tb, "golden", "upstream")), skipping tb when it is absent.
func Path(tb testing.TB, elem ...string) string {
	tb.Helper()
	p := filepath.Join(append([]string{Dir(tb)}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("reference data not available: expected %s", p)
	}
	return p
}

// ListedCases returns the case identifiers listed, in file order, in
// raw/CASES.txt, the file by which the hippocampus golden datasets name
// their msd-hippocampus cases instead of holding the images. Blank lines
// and lines starting with # are ignored. ok is false when raw has no
// CASES.txt.
func ListedCases(tb testing.TB, raw string) (ids []string, ok bool) {
	tb.Helper()
	path := filepath.Join(raw, "CASES.txt")
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, false
	}
	if err != nil {
		tb.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if line := strings.TrimSpace(s.Text()); line != "" && !strings.HasPrefix(line, "#") {
			ids = append(ids, line)
		}
	}
	if err := s.Err(); err != nil {
		tb.Fatalf("read %s: %v", path, err)
	}
	return ids, true
}

// RawDataset returns a folder usable as the nnU-Net raw dataset of the
// golden dataset name: golden/raw/<name> itself, or, for the hippocampus
// sets that list their cases in CASES.txt, a folder named name under
// tb.TempDir() holding a copy of dataset.json and imagesTr/labelsTr
// symlinks to the listed msd-hippocampus cases. It skips tb when the golden
// or msd-hippocampus data is absent.
func RawDataset(tb testing.TB, name string) string {
	tb.Helper()
	raw := Path(tb, "golden", "raw", name)
	ids, ok := ListedCases(tb, raw)
	if !ok {
		return raw
	}
	msd := Path(tb, "data", "msd-hippocampus")
	dir := filepath.Join(tb.TempDir(), name)
	for _, sub := range []string{"imagesTr", "labelsTr"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(raw, "dataset.json"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dataset.json"), b, 0o644); err != nil {
		tb.Fatal(err)
	}
	for _, id := range ids {
		for _, f := range [][2]string{{"imagesTr", id + "_0000.nii.gz"}, {"labelsTr", id + ".nii.gz"}} {
			if err := os.Symlink(filepath.Join(msd, f[0], f[1]), filepath.Join(dir, f[0], f[1])); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return dir
}
