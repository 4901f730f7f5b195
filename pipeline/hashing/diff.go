package hashing

import (
	"fmt"
	"strings"
)

// ChangeKind says how one path differs between two manifests.
type ChangeKind uint8

// Change kinds.
const (
	Added ChangeKind = iota + 1
	Removed
	Modified
	Renamed // same content, new path; Change.From holds the old path
)

// String returns the kind's name.
func (k ChangeKind) String() string {
	switch k {
	case Added:
		return "added"
	case Removed:
		return "removed"
	case Modified:
		return "modified"
	case Renamed:
		return "renamed"
	}
	return fmt.Sprintf("ChangeKind(%d)", uint8(k))
}

// Change is one difference between two manifests.
type Change struct {
	Path   string
	Kind   ChangeKind
	From   string // the old path of a Renamed entry
	Detail string // for Modified: "content", "mode 644 -> 755", "content, mode 644 -> 755", "link target" or "file -> symlink"
}

// String describes the change in one line, e.g. `modified a/b.txt (content)`.
func (c Change) String() string {
	switch {
	case c.Kind == Renamed:
		return fmt.Sprintf("renamed %s -> %s", c.From, c.Path)
	case c.Detail != "":
		return fmt.Sprintf("%s %s (%s)", c.Kind, c.Path, c.Detail)
	}
	return fmt.Sprintf("%s %s", c.Kind, c.Path)
}

// Diff lists every difference from old to m in path order. A removed path
// and an added path with the same kind and content are reported as one
// Renamed change. A nil old means an empty tree.
func (m *Manifest) Diff(old *Manifest) []Change {
	var prev []Entry
	if old != nil {
		prev = old.Entries
	}
	cur := m.Entries
	var changes []Change
	var added, removed []int // indexes into changes
	i, j := 0, 0
	for i < len(prev) || j < len(cur) {
		switch {
		case j == len(cur) || (i < len(prev) && prev[i].Path < cur[j].Path):
			removed = append(removed, len(changes))
			changes = append(changes, Change{Path: prev[i].Path, Kind: Removed})
			i++
		case i == len(prev) || cur[j].Path < prev[i].Path:
			added = append(added, len(changes))
			changes = append(changes, Change{Path: cur[j].Path, Kind: Added})
			j++
		default:
			if d := entryDetail(prev[i], cur[j]); d != "" {
				changes = append(changes, Change{Path: cur[j].Path, Kind: Modified, Detail: d})
			}
			i++
			j++
		}
	}
	if len(added) == 0 || len(removed) == 0 {
		return changes
	}
	return pairRenames(changes, added, removed, prev, cur)
}

// pairRenames turns removed/added pairs with equal content into Renamed
// changes, pairing in path order so the result is deterministic.
func pairRenames(changes []Change, added, removed []int, prev, cur []Entry) []Change {
	type content struct {
		kind   EntryKind
		mode   uint32
		digest Digest
	}
	prevByPath := make(map[string]Entry, len(removed))
	for _, e := range prev {
		prevByPath[e.Path] = e
	}
	curByPath := make(map[string]Entry, len(added))
	for _, e := range cur {
		curByPath[e.Path] = e
	}
	gone := make(map[content][]int)
	for _, ci := range removed {
		e := prevByPath[changes[ci].Path]
		if e.Kind == Dir {
			continue
		}
		k := content{e.Kind, e.Mode, e.Digest}
		gone[k] = append(gone[k], ci)
	}
	drop := make(map[int]bool)
	for _, ci := range added {
		e := curByPath[changes[ci].Path]
		k := content{e.Kind, e.Mode, e.Digest}
		if q := gone[k]; len(q) > 0 {
			from := changes[q[0]].Path
			gone[k] = q[1:]
			drop[q[0]] = true
			changes[ci] = Change{Path: e.Path, Kind: Renamed, From: from}
		}
	}
	out := changes[:0]
	for i, c := range changes {
		if !drop[i] {
			out = append(out, c)
		}
	}
	return out
}

// entryDetail says what differs between two entries at the same path, or
// "" if nothing does.
func entryDetail(a, b Entry) string {
	if a.Kind != b.Kind {
		return fmt.Sprintf("%s -> %s", a.Kind, b.Kind)
	}
	var parts []string
	if a.Digest != b.Digest || a.Size != b.Size {
		if a.Kind == Symlink {
			parts = append(parts, "link target")
		} else {
			parts = append(parts, "content")
		}
	}
	if a.Mode != b.Mode {
		parts = append(parts, fmt.Sprintf("mode %o -> %o", a.Mode, b.Mode))
	}
	return strings.Join(parts, ", ")
}
