package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/nnrunner/nnrunner/internal/sharedtest"
)

// BenchmarkNoopApplyHippocampus is `runner apply` (in process, whole CLI
// path: load, lock, hash, decide) on a committed workflow whose two stages
// take the 260-case msd-hippocampus dataset as input, with the stat cache
// warm. Target: under 200 ms.
func BenchmarkNoopApplyHippocampus(b *testing.B) {
	data := sharedtest.Path(b, "data", "msd-hippocampus")
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
