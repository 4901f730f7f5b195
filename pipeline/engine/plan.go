package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/nnrunner/nnrunner/pipeline/cachekey"
	"github.com/nnrunner/nnrunner/pipeline/hashing"
	"github.com/nnrunner/nnrunner/pipeline/record"
	"github.com/nnrunner/nnrunner/schema"
)

// Decision is what apply does with a stage.
type Decision string

// Decisions.
const (
	// Skip: the committed outputs match the current key.
	Skip Decision = "SKIP"
	// Restore: a result with the current key is in the store; it is
	// materialised without running.
	Restore Decision = "RESTORE"
	// Run: the stage runs.
	Run Decision = "RUN"
)

// Selection picks the stages of a plan or apply.
type Selection struct {
	// Targets limits the work to these stages and what they depend on;
	// empty means every stage.
	Targets []string
	// Force runs these stages even when their result is cached.
	Force []string
}

// NodePlan is the decision for one stage and why.
type NodePlan struct {
	Stage    string   `json:"stage"`
	Decision Decision `json:"decision"`
	// Reason says why in one line.
	Reason string `json:"reason"`
	// Key is the cache key in hex; empty while it depends on an upstream
	// stage that has not run yet.
	Key string `json:"key,omitempty"`
	// Waits lists the upstream stages the key waits for.
	Waits []string `json:"waits_for,omitempty"`
	// Changes lists how the key differs from the committed result's.
	Changes []Change `json:"changes,omitempty"`

	key        hashing.Digest
	components *cachekey.Components
	manifests  map[string]*hashing.Manifest // hashed inputs by name
	committed  *record.Committed
	result     *record.Result // the result a SKIP or RESTORE uses
}

// Change is one key component that differs from the committed result,
// with the changed files of a changed input when explained.
type Change struct {
	cachekey.Change
	Text  string   `json:"text"`
	Files []string `json:"files,omitempty"`
}

// Plan is what apply would do.
type Plan struct {
	Nodes []*NodePlan `json:"stages"`
}

// Pending reports whether any stage would restore or run.
func (p *Plan) Pending() bool {
	for _, n := range p.Nodes {
		if n.Decision != Skip {
			return true
		}
	}
	return false
}

// Plan computes every selected stage's decision without changing the
// workspace. With explain, changed inputs list their changed files.
func (e *Engine) Plan(ctx context.Context, sel Selection, explain bool) (*Plan, error) {
	ids, forced, err := e.selected(sel)
	if err != nil {
		return nil, err
	}
	known := map[string]*record.Result{}
	plan := &Plan{}
	for _, id := range ids {
		s, _ := e.wf.Stage(id)
		np, err := e.evaluate(ctx, s, known, forced[id])
		if err != nil {
			return nil, err
		}
		if np.Decision != Run {
			known[id] = np.result
		}
		if explain {
			e.explain(ctx, s, np, known)
		}
		plan.Nodes = append(plan.Nodes, np)
	}
	return plan, nil
}

// selected returns the selected stage ids in topological order and the
// forced set.
func (e *Engine) selected(sel Selection) ([]string, map[string]bool, error) {
	g := e.wf.Graph
	for _, id := range append(append([]string{}, sel.Targets...), sel.Force...) {
		if !g.Has(id) {
			return nil, nil, &UsageError{Msg: fmt.Sprintf("no stage %q in %s; stages: %s", id, e.wf.File, strings.Join(g.Order(), ", "))}
		}
	}
	forced := map[string]bool{}
	for _, id := range sel.Force {
		forced[id] = true
	}
	var in map[string]bool
	if len(sel.Targets) > 0 {
		in = g.Closure(sel.Targets)
	}
	var ids []string
	for _, id := range g.Order() {
		if in == nil || in[id] {
			ids = append(ids, id)
		}
	}
	return ids, forced, nil
}

// evaluate computes s's cache key and decision. known holds the results
// of upstream stages whose outputs are known; a stage whose key needs an
// unknown one is planned to RUN, waiting for it.
func (e *Engine) evaluate(ctx context.Context, s *schema.Stage, known map[string]*record.Result, forced bool) (*NodePlan, error) {
	np := &NodePlan{Stage: s.ID, manifests: map[string]*hashing.Manifest{}}
	comp := &cachekey.Components{
		Schema:  cachekey.SchemaVersion,
		Type:    s.Type,
		Version: s.Spec.Version,
		Params:  s.KeyWith,
		Inputs:  map[string]hashing.Digest{},
		Env:     map[string]*string{},
	}
	for _, in := range s.Inputs {
		if in.Kind == schema.OutputInput {
			r := known[in.Stage]
			if r == nil {
				np.Waits = appendUnique(np.Waits, in.Stage)
				continue
			}
			o, ok := r.Outputs[in.Output]
			if !ok {
				return nil, fmt.Errorf("stage %s: the committed result of %s has no output %q; run `runner apply --force %s`", s.ID, in.Stage, in.Output, in.Stage)
			}
			comp.Inputs[in.Name] = o.Digest
			continue
		}
		m, err := e.hashInput(ctx, in.Path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, &InputError{Stage: s.ID, Input: in.Name, Path: in.Path, Err: err}
			}
			return nil, fmt.Errorf("stage %s: hash input %s: %w", s.ID, in.Name, err)
		}
		comp.Inputs[in.Name] = m.Root()
		np.manifests[in.Name] = m
	}
	for _, k := range s.Env {
		if v, ok := os.LookupEnv(k); ok {
			comp.Env[k] = &v
		} else {
			comp.Env[k] = nil
		}
	}
	np.components = comp
	c, err := e.committed(s.ID)
	if err != nil {
		return nil, err
	}
	np.committed = c
	if len(np.Waits) > 0 {
		np.Decision = Run
		np.Reason = fmt.Sprintf("waits for %s; its key is known once that has run", strings.Join(np.Waits, ", "))
		if forced {
			np.Reason = "forced with --force; " + np.Reason
		}
		return np, nil
	}
	key, err := comp.Key()
	if err != nil {
		return nil, err
	}
	np.key, np.Key = key, key.String()
	if c != nil && c.Key != key {
		for _, ch := range cachekey.Diff(&c.Components, comp) {
			np.Changes = append(np.Changes, Change{Change: ch, Text: ch.String()})
		}
	}
	switch {
	case forced:
		np.Decision, np.Reason = Run, "forced with --force"
	case c != nil && c.Key == key:
		problem, err := e.outputsProblem(ctx, s.ID, c)
		if err != nil {
			return nil, err
		}
		switch {
		case problem == "":
			np.Decision, np.Reason, np.result = Skip, "up to date", &c.Result
		case e.store.Has(c.Tree):
			np.Decision, np.Reason, np.result = Restore, "committed outputs "+problem+"; restoring them from the store", &c.Result
		default:
			np.Decision, np.Reason = Run, "committed outputs "+problem+" and the store no longer has them"
		}
	default:
		if r, err := e.db.Result(key); err == nil && e.store.Has(r.Tree) {
			np.Decision, np.result = Restore, r
			np.Reason = fmt.Sprintf("same key as the run of %s; restoring it from the store", r.Started.Local().Format(time.DateTime))
			if len(np.Changes) > 0 {
				np.Reason += " (" + summarize(np.Changes) + ")"
			}
			return np, nil
		} else if err != nil && !errors.Is(err, record.ErrNotFound) {
			return nil, err
		}
		np.Decision = Run
		if c == nil {
			np.Reason = "never run"
		} else {
			np.Reason = summarize(np.Changes)
		}
	}
	return np, nil
}

// outputsProblem returns "" when stage id's out/ directory holds exactly
// the committed tree, else what is wrong with it.
func (e *Engine) outputsProblem(ctx context.Context, id string, c *record.Committed) (string, error) {
	m, err := e.hasher.Hash(ctx, e.layout.Out(id))
	if errors.Is(err, fs.ErrNotExist) {
		return "are missing", nil
	}
	if err != nil {
		return "", fmt.Errorf("stage %s: check committed outputs: %w", id, err)
	}
	if m.Root() == c.Tree {
		return "", nil
	}
	if old, err := e.store.Manifest(c.Tree); err == nil {
		if d := m.Diff(old); len(d) > 0 {
			return "were modified (" + d[0].String() + ")", nil
		}
	}
	return "were modified", nil
}

func summarize(changes []Change) string {
	if len(changes) == 0 {
		return "key changed"
	}
	parts := make([]string, 0, len(changes))
	for _, c := range changes {
		parts = append(parts, c.Text)
	}
	return strings.Join(parts, "; ")
}

// explain lists the changed files of every changed input of np.
func (e *Engine) explain(ctx context.Context, s *schema.Stage, np *NodePlan, known map[string]*record.Result) {
	for i := range np.Changes {
		ch := &np.Changes[i]
		if ch.Kind != cachekey.InputChange {
			continue
		}
		old, err := e.db.InputManifest(ch.OldDigest)
		if err != nil {
			ch.Files = []string{"(the earlier content's file list is not kept: " + err.Error() + ")"}
			continue
		}
		cur := np.manifests[ch.Name]
		if cur == nil {
			cur = e.upstreamManifest(s, ch.Name, known)
		}
		if cur == nil {
			continue
		}
		for _, d := range cur.Diff(old) {
			if d.Path == "" {
				// A single-file input: the file itself changed.
				ch.Files = append(ch.Files, d.Kind.String()+" (the file itself)")
				continue
			}
			ch.Files = append(ch.Files, d.String())
		}
	}
}

// upstreamManifest returns the manifest of the upstream output input name
// of s from the store.
func (e *Engine) upstreamManifest(s *schema.Stage, name string, known map[string]*record.Result) *hashing.Manifest {
	for _, in := range s.Inputs {
		if in.Name != name || in.Kind != schema.OutputInput {
			continue
		}
		r := known[in.Stage]
		if r == nil {
			return nil
		}
		tree, err := e.store.Manifest(r.Tree)
		if err != nil {
			return nil
		}
		return subManifest(tree, r.Outputs[in.Output].Path)
	}
	return nil
}

// subManifest returns the manifest of the file or folder at rel inside
// tree, with paths relative to it, as hashing a path directly would.
func subManifest(tree *hashing.Manifest, rel string) *hashing.Manifest {
	out := &hashing.Manifest{}
	prefix := rel + "/"
	for _, en := range tree.Entries {
		switch {
		case en.Path == rel:
			en.Path = ""
			out.Entries = append(out.Entries, en)
		case strings.HasPrefix(en.Path, prefix):
			en.Path = strings.TrimPrefix(en.Path, prefix)
			out.Entries = append(out.Entries, en)
		}
	}
	sort.Slice(out.Entries, func(i, j int) bool { return out.Entries[i].Path < out.Entries[j].Path })
	return out
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
