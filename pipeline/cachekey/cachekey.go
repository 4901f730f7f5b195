// Package cachekey computes a stage's cache key from a canonical record of
// everything that determines its outputs, and explains how two keys differ.
package cachekey

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/nnrunner/nnrunner/pipeline/hashing"
)

// SchemaVersion is the version of the key record's layout. Bumping it
// invalidates every cache key.
const SchemaVersion = 1

// Components is the canonical record a cache key is the BLAKE3 digest of.
// It is stored with every result so `runner plan` can say what changed.
type Components struct {
	Schema int `json:"schema"`
	// Type and Version are the stage type and its implementation version.
	Type    string `json:"type"`
	Version int    `json:"version"`
	// Params are the stage's resolved parameters in their key view (see
	// schema.Stage.KeyWith).
	Params map[string]any `json:"params"`
	// Inputs maps each input's name to the Merkle root of its content.
	Inputs map[string]hashing.Digest `json:"inputs"`
	// Env maps each allow-listed environment variable to its value; nil
	// means unset.
	Env map[string]*string `json:"env"`
}

// Canonical returns the record's canonical encoding: JSON with sorted keys
// and no insignificant space.
func (c *Components) Canonical() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("encode cache key record: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Key returns the BLAKE3 digest of the canonical record.
func (c *Components) Key() (hashing.Digest, error) {
	b, err := c.Canonical()
	if err != nil {
		return hashing.Digest{}, err
	}
	return hashing.Sum(b), nil
}

// ChangeKind names the component a Change is about.
type ChangeKind string

// Change kinds.
const (
	SchemaChange  ChangeKind = "key schema"
	StageChange   ChangeKind = "stage"
	ParamChange   ChangeKind = "param"
	InputChange   ChangeKind = "input"
	EnvChange     ChangeKind = "env"
	AddedChange   ChangeKind = "added"
	RemovedChange ChangeKind = "removed"
)

// Change is one difference between two key records.
type Change struct {
	Kind ChangeKind `json:"kind"`
	// Name is the param path ("lr", "outputs.count"), input name or
	// environment variable.
	Name string `json:"name"`
	Old  string `json:"old"`
	New  string `json:"new"`
	// OldDigest and NewDigest are set for inputs, so the caller can diff
	// the manifests file by file.
	OldDigest hashing.Digest `json:"-"`
	NewDigest hashing.Digest `json:"-"`
}

func (c Change) String() string {
	switch c.Kind {
	case InputChange:
		return fmt.Sprintf("input %s changed", c.Name)
	case AddedChange:
		return fmt.Sprintf("%s added: %s", c.Name, c.New)
	case RemovedChange:
		return fmt.Sprintf("%s removed (was %s)", c.Name, c.Old)
	}
	return fmt.Sprintf("%s %s: %s -> %s", c.Kind, c.Name, c.Old, c.New)
}

// Diff lists every component that differs from old to cur, in a stable
// order: schema, stage, params, inputs, env.
func Diff(old, cur *Components) []Change {
	var out []Change
	if old.Schema != cur.Schema {
		out = append(out, Change{Kind: SchemaChange, Name: "version", Old: fmt.Sprint(old.Schema), New: fmt.Sprint(cur.Schema)})
	}
	if old.Type != cur.Type {
		out = append(out, Change{Kind: StageChange, Name: "type", Old: old.Type, New: cur.Type})
	}
	if old.Version != cur.Version {
		out = append(out, Change{Kind: StageChange, Name: "version", Old: fmt.Sprint(old.Version), New: fmt.Sprint(cur.Version)})
	}
	oldP, curP := map[string]string{}, map[string]string{}
	flatten("", normalize(old.Params), oldP)
	flatten("", normalize(cur.Params), curP)
	out = append(out, diffMaps(ParamChange, "param ", oldP, curP)...)
	for _, name := range unionKeys(old.Inputs, cur.Inputs) {
		o, inOld := old.Inputs[name]
		n, inCur := cur.Inputs[name]
		switch {
		case !inOld:
			out = append(out, Change{Kind: AddedChange, Name: "input " + name, New: n.String()[:12], NewDigest: n})
		case !inCur:
			out = append(out, Change{Kind: RemovedChange, Name: "input " + name, Old: o.String()[:12], OldDigest: o})
		case o != n:
			out = append(out, Change{Kind: InputChange, Name: name, Old: o.String()[:12], New: n.String()[:12], OldDigest: o, NewDigest: n})
		}
	}
	oldE, curE := map[string]string{}, map[string]string{}
	for k, v := range old.Env {
		oldE[k] = envText(v)
	}
	for k, v := range cur.Env {
		curE[k] = envText(v)
	}
	out = append(out, diffMaps(EnvChange, "env ", oldE, curE)...)
	return out
}

func envText(v *string) string {
	if v == nil {
		return "(unset)"
	}
	return fmt.Sprintf("%q", *v)
}

func diffMaps(kind ChangeKind, prefix string, old, cur map[string]string) []Change {
	var out []Change
	for _, k := range unionKeys(old, cur) {
		o, inOld := old[k]
		n, inCur := cur[k]
		switch {
		case !inOld:
			out = append(out, Change{Kind: AddedChange, Name: prefix + k, New: n})
		case !inCur:
			out = append(out, Change{Kind: RemovedChange, Name: prefix + k, Old: o})
		case o != n:
			out = append(out, Change{Kind: kind, Name: k, Old: o, New: n})
		}
	}
	return out
}

// normalize round-trips v through JSON so values read back from a stored
// record and freshly resolved ones compare alike.
func normalize(v map[string]any) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out map[string]any
	if json.Unmarshal(b, &out) != nil {
		return v
	}
	return out
}

// flatten writes every leaf of v under a path such as "outputs.count" or
// "argv[3]", so a diff names the element that changed.
func flatten(prefix string, v any, out map[string]string) {
	if m, ok := v.(map[string]any); ok && (len(m) > 0 || prefix == "") {
		for k, e := range m {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, e, out)
		}
		return
	}
	if l, ok := v.([]any); ok && len(l) > 0 {
		for i, e := range l {
			flatten(fmt.Sprintf("%s[%d]", prefix, i), e, out)
		}
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		out[prefix] = fmt.Sprint(v)
		return
	}
	out[prefix] = string(b)
}

func unionKeys[V any](a, b map[string]V) []string {
	seen := make(map[string]bool, len(a)+len(b))
	for k := range a {
		seen[k] = true
	}
	for k := range b {
		seen[k] = true
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
