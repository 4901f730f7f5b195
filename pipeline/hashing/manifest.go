package hashing

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
)

// EntryKind is the type of one manifest entry.
type EntryKind uint8

// Entry kinds. Directories are recorded only when empty; a non-empty
// directory is implied by the paths of its entries.
const (
	File EntryKind = iota + 1
	Dir
	Symlink
)

// String returns the kind's name.
func (k EntryKind) String() string {
	switch k {
	case File:
		return "file"
	case Dir:
		return "dir"
	case Symlink:
		return "symlink"
	}
	return fmt.Sprintf("EntryKind(%d)", uint8(k))
}

// code is the kind's letter in the canonical encoding.
func (k EntryKind) code() byte {
	switch k {
	case File:
		return 'f'
	case Dir:
		return 'd'
	case Symlink:
		return 'l'
	}
	return '?'
}

func kindFromCode(c string) (EntryKind, bool) {
	switch c {
	case "f":
		return File, true
	case "d":
		return Dir, true
	case "l":
		return Symlink, true
	}
	return 0, false
}

// Normalised permission bits. Only the executable bit of a file is
// recorded (like git), so umask differences and the read-only bits of files
// restored from the store do not change a tree's digest.
const (
	ModeFile    uint32 = 0o644
	ModeExec    uint32 = 0o755
	ModeDir     uint32 = 0o755
	ModeSymlink uint32 = 0o777
)

// Entry is one file, empty directory or symlink of a tree.
type Entry struct {
	// Path is slash-separated and relative to the tree's root; it is ""
	// only for the single entry of a manifest of one file or of an empty
	// directory.
	Path string
	Kind EntryKind
	// Mode is ModeFile or ModeExec for files, ModeDir or ModeSymlink
	// otherwise.
	Mode uint32
	// Size is the file's length in bytes, or the symlink target's length.
	Size int64
	// Digest is the BLAKE3 digest of the file's content or of the symlink's
	// target string; zero for directories.
	Digest Digest
}

// Manifest is the sorted entry list of a file or directory tree. Its Root
// digest, a hash over every entry's path, kind, mode, size and content
// digest, identifies the tree's content.
type Manifest struct {
	Entries []Entry // sorted by Path (bytewise), paths unique
}

const manifestHeader = "nnrunner-manifest 1\n"

// Root returns the manifest's Merkle root: the BLAKE3 digest of its
// canonical encoding (see MarshalText). Entries not in canonical order are
// sorted first, so the root never depends on the order they were added in.
func (m *Manifest) Root() Digest {
	return Sum(m.canonical())
}

// TotalSize returns the sum of the sizes of the manifest's files.
func (m *Manifest) TotalSize() int64 {
	var n int64
	for _, e := range m.Entries {
		if e.Kind == File {
			n += e.Size
		}
	}
	return n
}

// MarshalText returns the canonical encoding: a header line, then one line
// per entry in path order: kind letter, octal mode, size, hex digest and the
// path as a Go string literal with every non-ASCII byte escaped (so the
// encoding does not depend on the Unicode tables of the Go release). It is
// the form stored on disk and hashed by Root.
func (m *Manifest) MarshalText() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m.canonical(), nil
}

func (m *Manifest) canonical() []byte {
	entries := m.Entries
	if !slices.IsSortedFunc(entries, compareEntries) {
		entries = slices.Clone(entries)
		slices.SortFunc(entries, compareEntries)
	}
	var b bytes.Buffer
	b.Grow(len(manifestHeader) + len(entries)*(100+32))
	b.WriteString(manifestHeader)
	var num [24]byte
	for _, e := range entries {
		b.WriteByte(e.Kind.code())
		b.WriteByte(' ')
		b.Write(strconv.AppendUint(num[:0], uint64(e.Mode), 8))
		b.WriteByte(' ')
		b.Write(strconv.AppendInt(num[:0], e.Size, 10))
		b.WriteByte(' ')
		t, _ := e.Digest.MarshalText()
		b.Write(t)
		b.WriteByte(' ')
		b.WriteString(strconv.QuoteToASCII(e.Path))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func compareEntries(a, b Entry) int {
	return strings.Compare(a.Path, b.Path)
}

// UnmarshalText decodes and validates a manifest written by MarshalText.
func (m *Manifest) UnmarshalText(text []byte) error {
	rest, ok := bytes.CutPrefix(text, []byte(manifestHeader))
	if !ok {
		return fmt.Errorf("decode manifest: missing header %q", strings.TrimSpace(manifestHeader))
	}
	var entries []Entry
	sc := bufio.NewScanner(bytes.NewReader(rest))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for line := 2; sc.Scan(); line++ {
		e, err := parseEntry(sc.Text())
		if err != nil {
			return fmt.Errorf("decode manifest line %d: %w", line, err)
		}
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("decode manifest: %w", err)
	}
	out := Manifest{Entries: entries}
	if err := out.Validate(); err != nil {
		return fmt.Errorf("decode manifest: %w", err)
	}
	*m = out
	return nil
}

func parseEntry(line string) (Entry, error) {
	f := strings.SplitN(line, " ", 5)
	if len(f) != 5 {
		return Entry{}, fmt.Errorf("want 5 fields, got %d", len(f))
	}
	var e Entry
	var ok bool
	if e.Kind, ok = kindFromCode(f[0]); !ok {
		return Entry{}, fmt.Errorf("unknown entry kind %q", f[0])
	}
	mode, err := strconv.ParseUint(f[1], 8, 32)
	if err != nil {
		return Entry{}, fmt.Errorf("mode: %w", err)
	}
	e.Mode = uint32(mode)
	if e.Size, err = strconv.ParseInt(f[2], 10, 64); err != nil {
		return Entry{}, fmt.Errorf("size: %w", err)
	}
	if e.Digest, err = ParseDigest(f[3]); err != nil {
		return Entry{}, err
	}
	if e.Path, err = strconv.Unquote(f[4]); err != nil {
		return Entry{}, fmt.Errorf("path %s: %w", f[4], err)
	}
	return e, nil
}

// Validate checks that entries are sorted with unique, clean relative
// paths (no "..", so a manifest can never name a file outside its tree), and
// that kinds, modes and sizes are consistent.
func (m *Manifest) Validate() error {
	for i, e := range m.Entries {
		if e.Path == "" {
			if len(m.Entries) != 1 || e.Kind == Symlink {
				return fmt.Errorf("manifest entry %d: empty path is only allowed for the single entry of a file or empty directory", i)
			}
		} else if !validPath(e.Path) {
			return fmt.Errorf("manifest entry %q: not a clean relative slash-separated path", e.Path)
		}
		if i > 0 && m.Entries[i-1].Path >= e.Path {
			return fmt.Errorf("manifest entry %q: entries not sorted by path or duplicated", e.Path)
		}
		var modeOK bool
		switch e.Kind {
		case File:
			modeOK = e.Mode == ModeFile || e.Mode == ModeExec
		case Dir:
			modeOK = e.Mode == ModeDir && e.Size == 0 && e.Digest.IsZero()
		case Symlink:
			modeOK = e.Mode == ModeSymlink
		default:
			return fmt.Errorf("manifest entry %q: unknown kind %d", e.Path, e.Kind)
		}
		if !modeOK || e.Size < 0 {
			return fmt.Errorf("manifest entry %q: invalid mode %o or size %d for a %s", e.Path, e.Mode, e.Size, e.Kind)
		}
	}
	// Entries are leaves: no entry may lie inside another (a file, a
	// symlink or an empty directory), so a manifest cannot place a file
	// behind a symlink.
	if len(m.Entries) > 1 {
		leaves := make(map[string]bool, len(m.Entries))
		for _, e := range m.Entries {
			leaves[e.Path] = true
		}
		for _, e := range m.Entries {
			for p := path.Dir(e.Path); p != "."; p = path.Dir(p) {
				if leaves[p] {
					return fmt.Errorf("manifest entry %q: lies inside entry %q", e.Path, p)
				}
			}
		}
	}
	return nil
}

// validPath reports whether p is a clean relative slash-separated path:
// non-empty elements other than "." and "..", and no NUL byte. Unlike
// fs.ValidPath it accepts names that are not UTF-8, which Linux allows.
func validPath(p string) bool {
	if strings.IndexByte(p, 0) >= 0 {
		return false
	}
	for elem := range strings.SplitSeq(p, "/") {
		if elem == "" || elem == "." || elem == ".." {
			return false
		}
	}
	return true
}
