package dag

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestGraph(t *testing.T) {
	tests := []struct {
		name      string
		ids       []string
		deps      map[string][]string
		order     []string
		cycle     []string
		closureOf []string
		closure   []string
	}{
		{name: "empty"},
		{name: "chain", ids: []string{"c", "b", "a"}, deps: map[string][]string{"c": {"b"}, "b": {"a"}},
			order: []string{"a", "b", "c"}, closureOf: []string{"b"}, closure: []string{"a", "b"}},
		{name: "diamond keeps declaration order", ids: []string{"top", "l", "r", "bottom"},
			deps:  map[string][]string{"l": {"top"}, "r": {"top"}, "bottom": {"r", "l", "l"}},
			order: []string{"top", "l", "r", "bottom"}, closureOf: []string{"l"}, closure: []string{"l", "top"}},
		{name: "independent", ids: []string{"x", "y"}, order: []string{"x", "y"}},
		{name: "cycle", ids: []string{"a", "b", "c"}, deps: map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"a"}},
			cycle: []string{"a", "b", "c", "a"}},
		{name: "self loop", ids: []string{"a"}, deps: map[string][]string{"a": {"a"}}, cycle: []string{"a", "a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := New(tc.ids, tc.deps)
			if tc.cycle != nil {
				var ce *CycleError
				if !errors.As(err, &ce) {
					t.Fatalf("err = %v, want a cycle", err)
				}
				if diff := cmp.Diff(tc.cycle, ce.Cycle); diff != "" {
					t.Errorf("cycle (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.order, g.Order(), cmpEmpty); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
			if tc.closureOf != nil {
				got := g.Closure(tc.closureOf)
				want := map[string]bool{}
				for _, id := range tc.closure {
					want[id] = true
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("closure (-want +got):\n%s", diff)
				}
			}
		})
	}
}

var cmpEmpty = cmp.Comparer(func(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
})

func TestUnknownDependency(t *testing.T) {
	if _, err := New([]string{"a"}, map[string][]string{"a": {"zz"}}); err == nil {
		t.Fatal("unknown dependency accepted")
	}
}
