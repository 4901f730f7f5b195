package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// sharedDir returns ../shared next to the repository root, or skips.
func sharedDir(b *testing.B) string {
	b.Helper()
	dir, err := os.Getwd()
	if err != nil {
		b.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			b.Skip("repository root not found")
		}
		dir = parent
	}
	shared := filepath.Join(dir, "..", "shared")
	if _, err := os.Stat(filepath.Join(shared, "data", "msd-hippocampus")); err != nil {
		b.Skip("../shared/data/msd-hippocampus is absent; the benchmark needs the real dataset")
	}
	return shared
}

// BenchmarkNoopApplyHippocampus is `runner apply` (in process, whole CLI
// path: load, lock, hash, decide) on a committed workflow whose two stages
// take the 260-case msd-hippocampus dataset as input, with the stat cache
// warm. Target: under 200 ms.
func BenchmarkNoopApplyHippocampus(b *testing.B) {
	data := filepath.Join(sharedDir(b), "data", "msd-hippocampus")
	dir := b.TempDir()
	file := filepath.Join(dir, "wf.yaml")
	wf := `version: 1
datasets: {hippo: ` + data + `}
stages:
  count:
    type: exec
    with:
      inputs: ["${datasets.hippo}"]
      argv: [sh, -c, 'ls "$0"/imagesTr | wc -l > "$RUNNER_OUT/n.txt"', "${datasets.hippo}"]
      outputs: {n: n.txt}
  labels:
    type: exec
    with:
      inputs: ["${datasets.hippo}/labelsTr"]
      argv: [sh, -c, 'ls "$0" > "$RUNNER_OUT/labels.txt"', "${datasets.hippo}/labelsTr"]
      outputs: {labels: labels.txt}
`
	if err := os.WriteFile(file, []byte(wf), 0o644); err != nil {
		b.Fatal(err)
	}
	if code := run([]string{"apply", file}, io.Discard, io.Discard); code != 0 {
		b.Fatalf("first apply: exit %d", code)
	}
	b.ResetTimer()
	for b.Loop() {
		if code := run([]string{"apply", file, "--log-level", "warn"}, io.Discard, io.Discard); code != 0 {
			b.Fatalf("no-op apply: exit %d", code)
		}
	}
}
