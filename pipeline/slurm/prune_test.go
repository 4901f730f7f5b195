package slurm

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"
	"github.com/nnrunner/nnrunner/pipeline/hashing"
	"github.com/nnrunner/nnrunner/schema"
)

func TestPrune(t *testing.T) {
	ws := t.TempDir()
	c := &fakeCluster{jobs: map[string]*fakeJob{}}
	x, err := New(Config{Workflow: &schema.Workflow{File: filepath.Join(ws, "wf.yaml"), Workspace: ws},
		Runner: "/bin/runner", Command: c.run, PollInterval: time.Millisecond, Log: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := x.Prune(); err != nil || n != 0 {
		t.Fatalf("Prune of an empty workspace = %d, %v", n, err)
	}
	cur, old := hashing.Sum([]byte("cur")).String(), hashing.Sum([]byte("old")).String()
	// Stage a's latest job is 7 (3 was an earlier one); stage b's latest
	// was submitted but its id never journaled, so its logs stay.
	if err := x.journal.save(&entry{Stage: "a", Key: cur, JobID: "7"}); err != nil {
		t.Fatal(err)
	}
	if err := x.journal.save(&entry{Stage: "b", Key: cur}); err != nil {
		t.Fatal(err)
	}
	files := []string{
		"scripts/a." + cur[:16] + ".sh", "scripts/a." + old[:16] + ".sh", "scripts/b." + cur[:16] + ".sh",
		"specs/a." + cur[:16] + ".json", "specs/a." + old[:16] + ".json",
		"logs/a.7.out", "logs/a.3.out", "logs/b.9.out",
		"status/7.json", "status/3.json",
	}
	for _, f := range files {
		p := filepath.Join(x.root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	n, err := x.Prune()
	if err != nil || n != 4 {
		t.Fatalf("Prune = %d, %v; want 4 removed", n, err)
	}
	var left []string
	filepath.WalkDir(x.root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(x.root, p)
			left = append(left, filepath.ToSlash(rel))
		}
		return nil
	})
	want := []string{
		"jobs/a.json", "jobs/b.json",
		"logs/a.7.out", "logs/b.9.out",
		"scripts/a." + cur[:16] + ".sh", "scripts/b." + cur[:16] + ".sh",
		"specs/a." + cur[:16] + ".json",
		"status/7.json",
	}
	sort.Strings(left)
	sort.Strings(want)
	if diff := cmp.Diff(want, left); diff != "" {
		t.Errorf("files left (-want +got):\n%s", diff)
	}
}
