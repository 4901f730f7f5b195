package stage

import (
	"fmt"
	"sort"
)

// Registry maps stage type names to implementations. It is built
// explicitly by the program (see stages/builtin); there is no global registry.
type Registry struct {
	stages map[string]Stage
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{stages: make(map[string]Stage)}
}

// Register adds s; a second stage with the same type name is an error.
func (r *Registry) Register(s Stage) error {
	t := s.Spec().Type
	if t == "" {
		return fmt.Errorf("register stage: empty type name")
	}
	if _, dup := r.stages[t]; dup {
		return fmt.Errorf("register stage %q: already registered", t)
	}
	r.stages[t] = s
	return nil
}

// Lookup returns the stage registered under type t.
func (r *Registry) Lookup(t string) (Stage, bool) {
	s, ok := r.stages[t]
	return s, ok
}

// Types returns the registered type names, sorted.
func (r *Registry) Types() []string {
	out := make([]string, 0, len(r.stages))
	for t := range r.stages {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
