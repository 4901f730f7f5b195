package hashing

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// node is one item of a test tree: a file (content), an executable file,
// an empty directory or a symlink.
type node struct {
	content string
	exec    bool
	dir     bool
	link    string
}

// writeTree creates the tree described by nodes (slash-separated paths)
// under a new temporary directory and returns its path.
func writeTree(t testing.TB, nodes map[string]node) string {
	t.Helper()
	root := t.TempDir()
	for p, n := range nodes {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case n.dir:
			err = os.MkdirAll(full, 0o755)
		case n.link != "":
			err = os.Symlink(n.link, full)
		default:
			mode := os.FileMode(0o644)
			if n.exec {
				mode = 0o755
			}
			err = os.WriteFile(full, []byte(n.content), mode)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// testHasher returns an in-memory Hasher whose clock runs ahead, so files
// just written count as old enough to be cached.
func testHasher(t testing.TB, cachePath string) *Hasher {
	t.Helper()
	h, err := NewHasher(cachePath, 2)
	if err != nil {
		t.Fatal(err)
	}
	h.now = func() time.Time { return time.Now().Add(time.Hour) }
	return h
}

func hashTree(t testing.TB, h *Hasher, path string) *Manifest {
	t.Helper()
	m, err := h.Hash(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var baseTree = map[string]node{
	"a.txt":           {content: "alpha"},
	"b/c.txt":         {content: "charlie"},
	"b/d/e.bin":       {content: strings.Repeat("x", 300_000)},
	"b/run.sh":        {content: "#!/bin/sh\n", exec: true},
	"empty":           {dir: true},
	"link":            {link: "b/c.txt"},
	"outside":         {link: "../../etc/passwd"},
	"a.txt.d/nested":  {content: "sorts after a.txt"},
	"b/d/zero-length": {},
}

func TestDigestKnownValues(t *testing.T) {
	// BLAKE3 test vector: the empty input.
	const empty = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
	if got := Sum(nil).String(); got != empty {
		t.Fatalf("Sum(nil) = %s, want %s", got, empty)
	}
	d, err := ParseDigest(empty)
	if err != nil || d != Sum(nil) {
		t.Fatalf("ParseDigest round trip: %v %v", d, err)
	}
	for _, bad := range []string{"", "zz", strings.Repeat("g", 64), empty + "00"} {
		if _, err := ParseDigest(bad); err == nil {
			t.Errorf("ParseDigest(%q) succeeded, want error", bad)
		}
	}
}

func TestManifestStableAndComplete(t *testing.T) {
	root := writeTree(t, baseTree)
	m1 := hashTree(t, testHasher(t, ""), root)
	m2 := hashTree(t, testHasher(t, ""), writeTree(t, baseTree)) // another copy, other creation order
	if m1.Root() != m2.Root() {
		t.Fatalf("roots differ for identical trees:\n%s", cmp.Diff(m1, m2))
	}
	want := map[string]EntryKind{
		"a.txt": File, "a.txt.d/nested": File, "b/c.txt": File, "b/d/e.bin": File,
		"b/d/zero-length": File, "b/run.sh": File, "empty": Dir, "link": Symlink, "outside": Symlink,
	}
	got := map[string]EntryKind{}
	for _, e := range m1.Entries {
		got[e.Path] = e.Kind
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("entries (-want +got):\n%s", d)
	}
	for _, e := range m1.Entries {
		switch e.Path {
		case "b/run.sh":
			if e.Mode != ModeExec {
				t.Errorf("%s mode %o, want %o", e.Path, e.Mode, ModeExec)
			}
		case "link":
			if e.Digest != Sum([]byte("b/c.txt")) {
				t.Errorf("symlink digest is not the digest of its target")
			}
		case "b/d/e.bin":
			if e.Digest != Sum([]byte(baseTree["b/d/e.bin"].content)) || e.Size != 300_000 {
				t.Errorf("large file digest/size wrong: %+v", e)
			}
		}
	}
	// Shuffled entries give the same root.
	shuffled := &Manifest{Entries: append([]Entry(nil), m1.Entries...)}
	for i, j := 0, len(shuffled.Entries)-1; i < j; i, j = i+1, j-1 {
		shuffled.Entries[i], shuffled.Entries[j] = shuffled.Entries[j], shuffled.Entries[i]
	}
	if shuffled.Root() != m1.Root() {
		t.Fatal("root depends on entry order")
	}
}

func TestManifestTextRoundTrip(t *testing.T) {
	m := hashTree(t, testHasher(t, ""), writeTree(t, baseTree))
	text, err := m.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var back Manifest
	if err := back.UnmarshalText(text); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(m, &back); d != "" {
		t.Fatalf("round trip (-want +got):\n%s", d)
	}
	if back.Root() != Sum(text) {
		t.Fatal("root is not the digest of the canonical text")
	}
}

func TestManifestValidateRejects(t *testing.T) {
	f := Entry{Kind: File, Mode: ModeFile}
	with := func(p string, e Entry) Entry { e.Path = p; return e }
	tests := []struct {
		name    string
		entries []Entry
	}{
		{"dotdot", []Entry{with("../x", f)}},
		{"inner dotdot", []Entry{with("a/../../x", f)}},
		{"dot", []Entry{with(".", f)}},
		{"trailing slash", []Entry{with("a/", f)}},
		{"NUL", []Entry{with("a\x00b", f)}},
		{"absolute", []Entry{with("/x", f)}},
		{"unsorted", []Entry{with("b", f), with("a", f)}},
		{"duplicate", []Entry{with("a", f), with("a", f)}},
		{"empty path among others", []Entry{with("", f), with("a", f)}},
		{"inside symlink", []Entry{{Path: "l", Kind: Symlink, Mode: ModeSymlink}, with("l/x", f)}},
		{"bad mode", []Entry{{Path: "a", Kind: File, Mode: 0o600}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &Manifest{Entries: tt.entries}
			if err := m.Validate(); err == nil {
				t.Fatal("Validate succeeded, want error")
			}
		})
	}
}

func TestSingleFile(t *testing.T) {
	root := writeTree(t, map[string]node{"f.txt": {content: "hello"}, "g.txt": {content: "hello"}, "l": {link: "f.txt"}})
	h := testHasher(t, "")
	mf := hashTree(t, h, filepath.Join(root, "f.txt"))
	mg := hashTree(t, h, filepath.Join(root, "g.txt"))
	ml := hashTree(t, h, filepath.Join(root, "l")) // a symlinked input is followed
	if len(mf.Entries) != 1 || mf.Entries[0].Path != "" || mf.Entries[0].Digest != Sum([]byte("hello")) {
		t.Fatalf("single file manifest: %+v", mf.Entries)
	}
	if mf.Root() != mg.Root() || mf.Root() != ml.Root() {
		t.Fatal("a single file's root depends on its name")
	}
}

func TestChangesDetected(t *testing.T) {
	tests := []struct {
		name   string
		modify func(t *testing.T, root string)
		want   []Change
	}{
		{"content", func(t *testing.T, root string) {
			write(t, filepath.Join(root, "b/c.txt"), "CHARLIE")
		}, []Change{{Path: "b/c.txt", Kind: Modified, Detail: "content"}}},
		{"mode", func(t *testing.T, root string) {
			must(t, os.Chmod(filepath.Join(root, "a.txt"), 0o755))
		}, []Change{{Path: "a.txt", Kind: Modified, Detail: "mode 644 -> 755"}}},
		{"content and mode", func(t *testing.T, root string) {
			write(t, filepath.Join(root, "a.txt"), "ALPHA")
			must(t, os.Chmod(filepath.Join(root, "a.txt"), 0o700))
		}, []Change{{Path: "a.txt", Kind: Modified, Detail: "content, mode 644 -> 755"}}},
		{"rename", func(t *testing.T, root string) {
			must(t, os.Rename(filepath.Join(root, "b/c.txt"), filepath.Join(root, "b/c2.txt")))
		}, []Change{{Path: "b/c2.txt", Kind: Renamed, From: "b/c.txt"}}},
		{"added", func(t *testing.T, root string) {
			write(t, filepath.Join(root, "new.txt"), "new")
		}, []Change{{Path: "new.txt", Kind: Added}}},
		{"removed", func(t *testing.T, root string) {
			must(t, os.Remove(filepath.Join(root, "a.txt")))
		}, []Change{{Path: "a.txt", Kind: Removed}}},
		{"empty dir filled", func(t *testing.T, root string) {
			write(t, filepath.Join(root, "empty/x"), "x")
		}, []Change{{Path: "empty", Kind: Removed}, {Path: "empty/x", Kind: Added}}},
		{"symlink retargeted", func(t *testing.T, root string) {
			must(t, os.Remove(filepath.Join(root, "link")))
			must(t, os.Symlink("a.txt", filepath.Join(root, "link")))
		}, []Change{{Path: "link", Kind: Modified, Detail: "link target"}}},
		{"file becomes symlink", func(t *testing.T, root string) {
			must(t, os.Remove(filepath.Join(root, "a.txt")))
			must(t, os.Symlink("b/c.txt", filepath.Join(root, "a.txt")))
		}, []Change{{Path: "a.txt", Kind: Modified, Detail: "file -> symlink"}}},
		{"same size same mtime", func(t *testing.T, root string) {
			p := filepath.Join(root, "b/c.txt")
			fi, err := os.Stat(p)
			must(t, err)
			write(t, p, "CHARLIx")
			must(t, os.Chtimes(p, fi.ModTime(), fi.ModTime()))
		}, []Change{{Path: "b/c.txt", Kind: Modified, Detail: "content"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeTree(t, baseTree)
			h := testHasher(t, "")
			before := hashTree(t, h, root)
			tt.modify(t, root)
			after := hashTree(t, h, root)
			if before.Root() == after.Root() {
				t.Fatal("root unchanged")
			}
			if d := cmp.Diff(tt.want, after.Diff(before)); d != "" {
				t.Fatalf("Diff (-want +got):\n%s", d)
			}
		})
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(path), 0o755))
	must(t, os.WriteFile(path, []byte(content), 0o644))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestEscapes(t *testing.T) {
	tests := []struct {
		rel, target string
		want        bool
	}{
		{"link", "b/c.txt", false},
		{"a/link", "../b", false},
		{"a/link", "../../b", true},
		{"link", "..", true},
		{"link", "/etc/passwd", true},
		{"a/b/link", "../../x/../y", false},
		{"link", ".", false},
	}
	for _, tt := range tests {
		if got := escapes(tt.rel, tt.target); got != tt.want {
			t.Errorf("escapes(%q, %q) = %v, want %v", tt.rel, tt.target, got, tt.want)
		}
	}
	h := testHasher(t, "")
	hashTree(t, h, writeTree(t, baseTree))
	if got := h.Stats().ExternalLinks; got != 1 {
		t.Errorf("ExternalLinks = %d, want 1 (the link to ../../etc/passwd)", got)
	}
}

func TestDiffRenamePairing(t *testing.T) {
	d1, d2 := Sum([]byte("1")), Sum([]byte("2"))
	f := func(p string, d Digest) Entry { return Entry{Path: p, Kind: File, Mode: ModeFile, Size: 1, Digest: d} }
	old := &Manifest{Entries: []Entry{f("a", d1), f("b", d1), f("c", d2)}}
	cur := &Manifest{Entries: []Entry{f("x", d1), f("y", d2), f("z", d1)}}
	want := []Change{
		{Path: "x", Kind: Renamed, From: "a"},
		{Path: "y", Kind: Renamed, From: "c"},
		{Path: "z", Kind: Renamed, From: "b"},
	}
	if d := cmp.Diff(want, cur.Diff(old)); d != "" {
		t.Fatalf("Diff (-want +got):\n%s", d)
	}
	if got := want[0].String(); got != "renamed a -> x" {
		t.Errorf("String() = %q", got)
	}
	if got := (Change{Path: "p", Kind: Modified, Detail: "content"}).String(); got != "modified p (content)" {
		t.Errorf("String() = %q", got)
	}
	if got := cur.Diff(nil); len(got) != 3 || got[0].Kind != Added {
		t.Errorf("Diff(nil) = %v, want everything added", got)
	}
	if got := cur.Diff(cur); len(got) != 0 {
		t.Errorf("Diff(self) = %v, want none", got)
	}
}
