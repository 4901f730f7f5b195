package record

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nnrunner/nnrunner/pipeline/cachekey"
	"github.com/nnrunner/nnrunner/pipeline/hashing"
	"github.com/nnrunner/nnrunner/pipeline/workspace"
)

func TestRoundTrip(t *testing.T) {
	l := workspace.Layout{Root: t.TempDir()}
	db := Open(l)
	key := hashing.Sum([]byte("key"))
	if _, err := db.Result(key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("absent result: %v", err)
	}
	r := &Result{
		Key: key, Stage: "a", Tree: hashing.Sum([]byte("tree")),
		Components: cachekey.Components{Schema: 1, Type: "exec", Version: 1,
			Params: map[string]any{"lr": 0.5}, Inputs: map[string]hashing.Digest{"datasets.x": hashing.Sum(nil)}},
		Outputs: map[string]Output{"out": {Path: "out.txt", Digest: hashing.Sum([]byte("o")), Size: 1}},
		Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Duration: 1.5, Host: "h", Seed: float64(7), Attempts: 1,
	}
	if err := db.PutResult(r); err != nil {
		t.Fatal(err)
	}
	got, err := db.Result(key)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if err := db.PutCommitted("a", &Committed{Result: *r, CommittedAt: r.Started}); err != nil {
		t.Fatal(err)
	}
	ids, err := db.CommittedStages()
	if err != nil || len(ids) != 1 || ids[0] != "a" {
		t.Errorf("committed stages %v, %v", ids, err)
	}
	m := &hashing.Manifest{Entries: []hashing.Entry{{Path: "f", Kind: hashing.File, Mode: hashing.ModeFile, Size: 1, Digest: hashing.Sum([]byte("f"))}}}
	if err := db.PutInputManifest(m); err != nil {
		t.Fatal(err)
	}
	back, err := db.InputManifest(m.Root())
	if err != nil || back.Root() != m.Root() {
		t.Errorf("input manifest: %v", err)
	}
	// A crash mid-write leaves a temp file; it is never read as a record.
	tmp := filepath.Join(l.IndexDir(), "."+key.String()+".json.tmp-123")
	os.WriteFile(tmp, []byte("{partial"), 0o644)
	if rs, err := db.Results(); err != nil || len(rs) != 1 {
		t.Errorf("results with a temp file present: %d, %v", len(rs), err)
	}
	if n, err := db.RemoveTemp(); err != nil || n != 1 {
		t.Errorf("RemoveTemp = %d, %v", n, err)
	}
}
