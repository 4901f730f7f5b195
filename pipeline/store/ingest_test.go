package store

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/nnrunner/nnrunner/pipeline/hashing"
)

func nlink(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Lstat(path)
	must(t, err)
	return uint64(fi.Sys().(*syscall.Stat_t).Nlink)
}

func entryOf(t *testing.T, m *hashing.Manifest, path string) hashing.Entry {
	t.Helper()
	for _, e := range m.Entries {
		if e.Path == path {
			return e
		}
	}
	t.Fatalf("no entry %q", path)
	return hashing.Entry{}
}

func TestPutIngestion(t *testing.T) {
	s, err := Open(t.TempDir())
	must(t, err)
	src := t.TempDir()
	writeTree(t, src, tree{"plain": "p", "tool": "+x t", "shared": "s", "ln": "->plain"})
	elsewhere := filepath.Join(t.TempDir(), "other-link")
	must(t, os.Link(filepath.Join(src, "shared"), elsewhere))
	m := hashDir(t, src)
	_, err = s.Put(ctx, src, m)
	must(t, err)

	tests := []struct {
		path      string
		blob      string
		wantLinks uint64 // links of the source file after Put
		wantPerm  os.FileMode
	}{
		{"plain", s.blobPath(entryOf(t, m, "plain").Digest, false), 2, 0o444},
		{"tool", s.blobPath(entryOf(t, m, "tool").Digest, true), 2, 0o555},
		// Already linked elsewhere: copied, the source left as it was.
		{"shared", s.blobPath(entryOf(t, m, "shared").Digest, false), 2, 0o644},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			p := filepath.Join(src, tt.path)
			if got := nlink(t, p); got != tt.wantLinks {
				t.Errorf("links of %s = %d, want %d", tt.path, got, tt.wantLinks)
			}
			fi, err := os.Lstat(p)
			must(t, err)
			if fi.Mode().Perm() != tt.wantPerm {
				t.Errorf("mode of %s = %v, want %v", tt.path, fi.Mode().Perm(), tt.wantPerm)
			}
			bi, err := os.Lstat(tt.blob)
			must(t, err)
			if bi.Mode().Perm()&0o222 != 0 {
				t.Errorf("blob %s is writable", tt.blob)
			}
		})
	}
	target, err := os.ReadFile(s.blobPath(entryOf(t, m, "ln").Digest, false))
	must(t, err)
	if string(target) != "plain" {
		t.Errorf("symlink blob holds %q, want the target", target)
	}
}

func TestPutRejectsChangedTree(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, src string)
	}{
		{"size changed", func(t *testing.T, src string) {
			must(t, os.WriteFile(filepath.Join(src, "a.txt"), []byte("longer alpha"), 0o644))
		}},
		{"removed", func(t *testing.T, src string) { must(t, os.Remove(filepath.Join(src, "a.txt"))) }},
		{"folder replaced by a symlink", func(t *testing.T, src string) {
			outside := t.TempDir()
			writeTree(t, outside, tree{"z": "zulu"})
			must(t, os.RemoveAll(filepath.Join(src, "deep/x/y")))
			must(t, os.Symlink(outside, filepath.Join(src, "deep/x/y")))
			t.Cleanup(func() {
				if fi, err := os.Stat(filepath.Join(outside, "z")); err == nil && fi.Mode().Perm() != 0o644 {
					t.Errorf("Put changed the mode of a file outside the tree to %v", fi.Mode().Perm())
				}
			})
		}},
		{"symlink retargeted", func(t *testing.T, src string) {
			must(t, os.Remove(filepath.Join(src, "ln")))
			must(t, os.Symlink("elsewhere", filepath.Join(src, "ln")))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(t.TempDir())
			must(t, err)
			src := t.TempDir()
			writeTree(t, src, sample)
			m := hashDir(t, src)
			tt.change(t, src)
			if _, err := s.Put(ctx, src, m); err == nil {
				t.Fatal("Put of a tree changed since hashing succeeded")
			}
			if s.Has(m.Root()) {
				t.Fatal("manifest stored although its blobs are not")
			}
		})
	}
}

func TestMaterializeDamagedStore(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, s *Store, m *hashing.Manifest)
		want   error
	}{
		{"missing blob", func(t *testing.T, s *Store, m *hashing.Manifest) {
			must(t, os.Remove(s.blobPath(entryOf(t, m, "a.txt").Digest, false)))
		}, ErrNotFound},
		{"missing exec blob", func(t *testing.T, s *Store, m *hashing.Manifest) {
			must(t, os.Remove(s.blobPath(entryOf(t, m, "bin/tool").Digest, true)))
		}, ErrNotFound},
		{"corrupt symlink blob", func(t *testing.T, s *Store, m *hashing.Manifest) {
			p := s.blobPath(entryOf(t, m, "ln").Digest, false)
			must(t, os.Chmod(p, 0o644))
			must(t, os.WriteFile(p, []byte("/etc/passwd"), 0o644))
		}, ErrCorrupt},
		{"truncated blob", func(t *testing.T, s *Store, m *hashing.Manifest) {
			p := s.blobPath(entryOf(t, m, "bin/tool").Digest, true)
			must(t, os.Chmod(p, 0o755))
			must(t, os.Truncate(p, 3))
		}, ErrCorrupt},
		{"corrupt manifest", func(t *testing.T, s *Store, m *hashing.Manifest) {
			p := s.manifestPath(m.Root())
			must(t, os.Chmod(p, 0o644))
			text, err := m.MarshalText()
			must(t, err)
			must(t, os.WriteFile(p, append(text, text[len(text)-60:]...), 0o644))
		}, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(t.TempDir())
			must(t, err)
			m, id := putSample(t, s)
			tt.damage(t, s, m)
			dst := filepath.Join(t.TempDir(), "out")
			if err := s.Materialize(ctx, id, dst); !errors.Is(err, tt.want) {
				t.Fatalf("Materialize: %v, want %v", err, tt.want)
			}
			if _, err := os.Lstat(dst); !os.IsNotExist(err) {
				t.Fatal("a failed Materialize left its destination")
			}
		})
	}
}

func TestCopyOutVerifies(t *testing.T) {
	s, err := Open(t.TempDir())
	must(t, err)
	m, _ := putSample(t, s)
	e := entryOf(t, m, "bin/tool")
	blob := s.blobPath(e.Digest, true)
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	must(t, s.copyOut(blob, good, e, blobExecMode))
	fi, err := os.Lstat(good)
	must(t, err)
	if fi.Mode().Perm() != blobExecMode || nlink(t, good) != 1 {
		t.Fatalf("copy has mode %v and %d links, want %v and 1", fi.Mode().Perm(), nlink(t, good), blobExecMode)
	}
	must(t, os.Chmod(blob, 0o755))
	must(t, os.WriteFile(blob, []byte("tampered"), 0o755))
	if err := s.copyOut(blob, filepath.Join(dir, "bad"), e, blobExecMode); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("copyOut of a tampered blob: %v, want ErrCorrupt", err)
	}
}

func TestMaterializeRepairsBlobMode(t *testing.T) {
	s, err := Open(t.TempDir())
	must(t, err)
	m, id := putSample(t, s)
	blob := s.blobPath(entryOf(t, m, "a.txt").Digest, false)
	must(t, os.Chmod(blob, 0o666))
	dst := filepath.Join(t.TempDir(), "out")
	must(t, s.Materialize(ctx, id, dst))
	fi, err := os.Lstat(filepath.Join(dst, "a.txt"))
	must(t, err)
	if fi.Mode().Perm() != blobMode {
		t.Fatalf("restored file mode %v, want %v", fi.Mode().Perm(), blobMode)
	}
}

func TestGCCleansLeftovers(t *testing.T) {
	s, err := Open(t.TempDir())
	must(t, err)
	_, id := putSample(t, s)
	must(t, os.WriteFile(filepath.Join(s.Dir(), tmpDir, "blob-123"), []byte("half"), 0o644))
	corrupt := hashing.Sum([]byte("x"))
	p := s.manifestPath(corrupt)
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, []byte("garbage"), 0o644))
	st, err := s.GC(ctx, []hashing.Digest{id, corrupt})
	must(t, err)
	if st.ManifestsKept != 1 || st.ManifestsRemoved != 1 || st.BlobsRemoved != 0 {
		t.Fatalf("GC stats %+v, want the sample kept and the corrupt manifest removed", st)
	}
	left, err := os.ReadDir(filepath.Join(s.Dir(), tmpDir))
	must(t, err)
	if len(left) != 0 {
		t.Fatalf("tmp leftovers not removed: %v", left)
	}
	must(t, s.Materialize(ctx, id, filepath.Join(t.TempDir(), "out")))
}
