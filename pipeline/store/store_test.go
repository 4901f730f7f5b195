package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nnrunner/nnrunner/pipeline/hashing"
)

var ctx = context.Background()

// tree is a test tree: path -> content; a "->" prefix makes a symlink,
// a "+x " prefix an executable file and "/" an empty directory.
type tree map[string]string

func writeTree(t testing.TB, root string, files tree) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		must(t, os.MkdirAll(filepath.Dir(full), 0o755))
		switch {
		case c == "/":
			must(t, os.MkdirAll(full, 0o755))
		case len(c) > 2 && c[:2] == "->":
			must(t, os.Symlink(c[2:], full))
		case len(c) > 3 && c[:3] == "+x ":
			must(t, os.WriteFile(full, []byte(c[3:]), 0o755))
		default:
			must(t, os.WriteFile(full, []byte(c), 0o644))
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func hashDir(t testing.TB, dir string) *hashing.Manifest {
	t.Helper()
	h, err := hashing.NewHasher("", 2)
	must(t, err)
	m, err := h.Hash(ctx, dir)
	must(t, err)
	return m
}

var sample = tree{
	"a.txt":       "alpha",
	"dup.txt":     "alpha",
	"bin/tool":    "+x #!/bin/sh\necho hi\n",
	"bin/notexec": "#!/bin/sh\necho hi\n",
	"empty":       "/",
	"ln":          "->a.txt",
	"deep/x/y/z":  "zulu",
}

// putSample writes sample into a fresh directory, hashes and stores it.
func putSample(t *testing.T, s *Store) (*hashing.Manifest, hashing.Digest) {
	t.Helper()
	src := t.TempDir()
	writeTree(t, src, sample)
	m := hashDir(t, src)
	id, err := s.Put(ctx, src, m)
	must(t, err)
	if id != m.Root() {
		t.Fatalf("Put returned %s, want the root %s", id, m.Root())
	}
	return m, id
}

func TestPutMaterializeRoundTrip(t *testing.T) {
	s, err := Open(t.TempDir())
	must(t, err)
	m, id := putSample(t, s)
	if !s.Has(id) {
		t.Fatal("Has = false after Put")
	}
	got, err := s.Manifest(id)
	must(t, err)
	if d := cmp.Diff(m, got); d != "" {
		t.Fatalf("stored manifest (-want +got):\n%s", d)
	}
	dst := filepath.Join(t.TempDir(), "out", "restored")
	must(t, s.Materialize(ctx, id, dst))
	if back := hashDir(t, dst); back.Root() != id {
		t.Fatalf("restored tree differs:\n%v", back.Diff(m))
	}
	for _, p := range []string{"a.txt", "bin/tool"} {
		fi, err := os.Stat(filepath.Join(dst, p))
		must(t, err)
		if fi.Mode().Perm()&0o222 != 0 {
			t.Errorf("restored %s is writable (%v)", p, fi.Mode())
		}
	}
	if err := s.Materialize(ctx, id, dst); err == nil {
		t.Fatal("Materialize over an existing destination succeeded")
	}
}

func TestRootRoundTrips(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the path to store
	}{
		{"single file", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "model.bin")
			must(t, os.WriteFile(p, []byte("weights"), 0o644))
			return p
		}},
		{"single executable", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "tool")
			must(t, os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755))
			return p
		}},
		{"empty directory", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "empty")
			must(t, os.Mkdir(p, 0o755))
			return p
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(t.TempDir())
			must(t, err)
			src := tt.setup(t, t.TempDir())
			m := hashDir(t, src)
			id, err := s.Put(ctx, src, m)
			must(t, err)
			dst := filepath.Join(t.TempDir(), "restored")
			must(t, s.Materialize(ctx, id, dst))
			if got := hashDir(t, dst); got.Root() != id {
				t.Fatalf("restored %v, want %v", got.Entries, m.Entries)
			}
			left, err := os.ReadDir(filepath.Dir(dst))
			must(t, err)
			if len(left) != 1 {
				t.Fatalf("Materialize left %d entries next to its destination, want 1", len(left))
			}
		})
	}
}

func TestMissingManifest(t *testing.T) {
	s, err := Open(t.TempDir())
	must(t, err)
	id := hashing.Sum([]byte("nothing"))
	if _, err := s.Manifest(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Manifest of unknown id: %v, want ErrNotFound", err)
	}
	if err := s.Materialize(ctx, id, filepath.Join(t.TempDir(), "x")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Materialize of unknown id: %v, want ErrNotFound", err)
	}
}

func TestCorruptBlobDetected(t *testing.T) {
	s, err := Open(t.TempDir())
	must(t, err)
	m, id := putSample(t, s)
	var target hashing.Entry
	for _, e := range m.Entries {
		if e.Path == "deep/x/y/z" {
			target = e
		}
	}
	blob := s.blobPath(target.Digest, false)
	must(t, os.Chmod(blob, 0o644))
	must(t, os.WriteFile(blob, []byte("zulU"), 0o644))
	dst := filepath.Join(t.TempDir(), "restored")
	err = s.Materialize(ctx, id, dst)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Materialize with a corrupt blob: %v, want ErrCorrupt", err)
	}
	if want := target.Digest.String(); !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name the blob %s", err, want)
	}
	if _, err := os.Lstat(dst); !os.IsNotExist(err) {
		t.Fatalf("a failed Materialize left %s behind", dst)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(dst), ".restored.tmp-*"))
	if len(leftovers) > 0 {
		t.Fatalf("temporary dirs left: %v", leftovers)
	}
	// The engine's recovery: re-run the stage and store its outputs again.
	// The corrupt blob was removed, so this Put writes a good one.
	putSample(t, s)
	must(t, s.Materialize(ctx, id, dst))
}

func TestConcurrentPut(t *testing.T) {
	for _, sameDir := range []bool{false, true} {
		name := map[bool]string{false: "two copies", true: "one folder"}[sameDir]
		t.Run(name, func(t *testing.T) {
			s, err := Open(t.TempDir())
			must(t, err)
			var srcs [2]string
			var ms [2]*hashing.Manifest
			for i := range srcs {
				if sameDir && i > 0 {
					srcs[i], ms[i] = srcs[0], ms[0]
					continue
				}
				srcs[i] = t.TempDir()
				writeTree(t, srcs[i], sample)
				ms[i] = hashDir(t, srcs[i])
			}
			var wg sync.WaitGroup
			var ids [2]hashing.Digest
			var errs [2]error
			for i := range srcs {
				wg.Go(func() { ids[i], errs[i] = s.Put(ctx, srcs[i], ms[i]) })
			}
			wg.Wait()
			for i := range errs {
				must(t, errs[i])
			}
			if ids[0] != ids[1] {
				t.Fatal("concurrent Puts of the same tree returned different ids")
			}
			must(t, s.Materialize(ctx, ids[0], filepath.Join(t.TempDir(), "r")))
		})
	}
}

func TestGC(t *testing.T) {
	s, err := Open(t.TempDir())
	must(t, err)
	_, keepID := putSample(t, s)
	src := t.TempDir()
	writeTree(t, src, tree{"only-here.txt": "unique content", "a.txt": "alpha"})
	dropID, err := s.Put(ctx, src, hashDir(t, src))
	must(t, err)
	before, err := s.Size()
	must(t, err)
	st, err := s.GC(ctx, []hashing.Digest{keepID})
	must(t, err)
	if st.ManifestsKept != 1 || st.ManifestsRemoved != 1 || st.BlobsRemoved != 1 {
		t.Fatalf("GC stats %+v, want 1 kept, 1 manifest and 1 blob removed", st)
	}
	after, err := s.Size()
	must(t, err)
	if after >= before {
		t.Fatalf("Size %d -> %d after GC", before, after)
	}
	if s.Has(dropID) {
		t.Fatal("dropped manifest still present")
	}
	must(t, s.Materialize(ctx, keepID, filepath.Join(t.TempDir(), "r")))
}
