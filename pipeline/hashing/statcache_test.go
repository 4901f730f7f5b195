package hashing

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// countFiles returns the number of regular files in nodes.
func countFiles(nodes map[string]node) int64 {
	var n int64
	for _, nd := range nodes {
		if !nd.dir && nd.link == "" {
			n++
		}
	}
	return n
}

func TestStatCacheHitsAndMisses(t *testing.T) {
	nfiles := countFiles(baseTree)
	tests := []struct {
		name      string
		modify    func(t *testing.T, root string) string // returns the path to hash
		wantHits  int64
		wantReads int64
	}{
		{"unchanged", func(t *testing.T, root string) string { return root }, nfiles, 0},
		{"one file rewritten", func(t *testing.T, root string) string {
			write(t, filepath.Join(root, "a.txt"), "ALPHA")
			return root
		}, nfiles - 1, 1},
		{"one file touched", func(t *testing.T, root string) string {
			p := filepath.Join(root, "b/c.txt")
			fi, err := os.Stat(p)
			must(t, err)
			must(t, os.Chtimes(p, fi.ModTime(), fi.ModTime().Add(-1e9)))
			return root
		}, nfiles - 1, 1},
		{"chmod changes ctime", func(t *testing.T, root string) string {
			must(t, os.Chmod(filepath.Join(root, "a.txt"), 0o600))
			return root
		}, nfiles - 1, 1},
		{"mtime in the future", func(t *testing.T, root string) string {
			p := filepath.Join(root, "a.txt")
			future := time.Now().Add(3 * time.Hour) // later than the test clock
			must(t, os.Chtimes(p, future, future))
			return root
		}, nfiles - 1, 1},
		{"tree renamed", func(t *testing.T, root string) string {
			moved := root + "-moved"
			must(t, os.Rename(root, moved))
			t.Cleanup(func() { os.RemoveAll(moved) })
			return moved
		}, nfiles, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeTree(t, baseTree)
			cache := filepath.Join(t.TempDir(), "stat.cache")
			h := testHasher(t, cache)
			first := hashTree(t, h, root)
			if s := h.Stats(); s.FilesRead != nfiles || s.CacheHits != 0 {
				t.Fatalf("cold stats %+v, want %d files read", s, nfiles)
			}
			must(t, h.Save())
			path := tt.modify(t, root)
			h2 := testHasher(t, cache) // a new process: the cache comes from the file
			second := hashTree(t, h2, path)
			s := h2.Stats()
			if s.CacheHits != tt.wantHits || s.FilesRead != tt.wantReads || s.CacheDiscarded {
				t.Fatalf("warm stats %+v, want %d hits and %d reads", s, tt.wantHits, tt.wantReads)
			}
			if tt.wantReads == 0 && second.Root() != first.Root() {
				t.Fatal("warm hash of an unchanged tree differs")
			}
		})
	}
}

func TestRacyFilesNotTrusted(t *testing.T) {
	root := writeTree(t, baseTree)
	h, err := NewHasher("", 2) // real clock: the files were written just now
	must(t, err)
	nfiles := countFiles(baseTree)
	hashTree(t, h, root)
	hashTree(t, h, root)
	s := h.Stats()
	if s.CacheHits != 0 || s.FilesRead != 2*nfiles || s.Racy != 2*nfiles {
		t.Fatalf("stats %+v: files changed within the racy window must be re-read every time", s)
	}
	// Once their timestamps are old enough, they are cached.
	h.now = testHasher(t, "").now
	hashTree(t, h, root)
	hashTree(t, h, root)
	if s := h.Stats(); s.CacheHits != nfiles {
		t.Fatalf("stats %+v: want %d hits once files are old", s, nfiles)
	}
	// Only ctime decides: a file whose mtime is set into the future (by
	// tar, rsync or clock skew) is still cached once its ctime is old.
	future := time.Now().Add(3 * time.Hour) // later than the test clock
	must(t, os.Chtimes(filepath.Join(root, "a.txt"), future, future))
	hashTree(t, h, root)
	before := h.Stats()
	hashTree(t, h, root)
	if s := h.Stats(); s.FilesRead != before.FilesRead {
		t.Fatalf("stats %+v: a file with a future mtime was re-read", s)
	}
}

func TestCorruptStatCacheIgnored(t *testing.T) {
	root := writeTree(t, baseTree)
	good := filepath.Join(t.TempDir(), "good.cache")
	h := testHasher(t, good)
	want := hashTree(t, h, root).Root()
	must(t, h.Save())
	valid, err := os.ReadFile(good)
	must(t, err)
	flipped := append([]byte(nil), valid...)
	flipped[len(flipped)/2] ^= 0xff
	tests := []struct {
		name    string
		content []byte
	}{
		{"garbage", []byte("this is not a stat cache")},
		{"empty", nil},
		{"truncated", valid[:len(valid)-7]},
		{"flipped byte", flipped},
		{"foreign magic", append([]byte("GITINDEX"), valid[8:]...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cache := filepath.Join(t.TempDir(), "stat.cache")
			must(t, os.WriteFile(cache, tt.content, 0o644))
			h := testHasher(t, cache)
			if !h.Stats().CacheDiscarded {
				t.Fatal("corrupt cache not reported as discarded")
			}
			if got := hashTree(t, h, root).Root(); got != want {
				t.Fatal("hash differs with a corrupt cache")
			}
			must(t, h.Save())
			h2 := testHasher(t, cache)
			hashTree(t, h2, root)
			if s := h2.Stats(); s.CacheDiscarded || s.FilesRead != 0 {
				t.Fatalf("rebuilt cache not used: %+v", s)
			}
		})
	}
}

func TestConcurrentSavesMerge(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "stat.cache")
	roots := []string{writeTree(t, baseTree), writeTree(t, map[string]node{"other": {content: "o"}})}
	var wg sync.WaitGroup
	errs := make([]error, len(roots))
	for i, root := range roots {
		h := testHasher(t, cache)
		hashTree(t, h, root)
		wg.Go(func() { errs[i] = h.Save() })
	}
	wg.Wait()
	must(t, errors.Join(errs...))
	h := testHasher(t, cache)
	for _, root := range roots {
		hashTree(t, h, root)
	}
	if s := h.Stats(); s.FilesRead != 0 {
		t.Fatalf("stats %+v: both processes' records should survive concurrent saves", s)
	}
	leftovers, _ := filepath.Glob(cache + ".tmp-*")
	if len(leftovers) > 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}
}

func TestHashErrors(t *testing.T) {
	root := writeTree(t, baseTree)
	h := testHasher(t, "")
	if _, err := h.Hash(context.Background(), filepath.Join(root, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing input: %v, want ErrNotExist", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, root); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := mkfifo(fifo); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if _, err := h.Hash(context.Background(), filepath.Dir(fifo)); err == nil {
		t.Error("a named pipe in the tree was accepted")
	}
}

func TestReadDirDoesNotFollowSymlinksBelowRoot(t *testing.T) {
	root := writeTree(t, map[string]node{"real/x": {content: "x"}, "ln": {link: "real"}})
	tests := []struct {
		path    string
		root    bool
		wantErr bool
	}{
		{filepath.Join(root, "real"), false, false},
		{filepath.Join(root, "ln"), false, true},
		{filepath.Join(root, "ln"), true, false}, // the root itself may be a symlink
	}
	for _, tt := range tests {
		_, err := readDir(tt.path, tt.root)
		if (err != nil) != tt.wantErr {
			t.Errorf("readDir(%s, root=%v) error %v, want error %v", tt.path, tt.root, err, tt.wantErr)
		}
	}
}
