// Package dag holds the dependency graph of a workflow's stages: a
// deterministic topological order, cycle detection with the cycle spelled
// out, and ancestor/descendant queries for --target.
package dag

import (
	"container/heap"
	"fmt"
	"strings"
)

// Graph is an acyclic dependency graph over string node ids.
type Graph struct {
	ids        []string // declaration order
	index      map[string]int
	deps       [][]int // deps[i]: nodes i depends on
	dependents [][]int // dependents[i]: nodes depending on i
	order      []string
}

// CycleError reports a dependency cycle. Cycle starts and ends with the same
// node.
type CycleError struct {
	Cycle []string
}

func (e *CycleError) Error() string {
	return "dependency cycle: " + strings.Join(e.Cycle, " -> ")
}

// New builds the graph of ids (in declaration order; the order breaks ties
// in Order) where deps[id] lists the ids that id depends on. Unknown
// dependencies are an error; a cycle is a *CycleError.
func New(ids []string, deps map[string][]string) (*Graph, error) {
	g := &Graph{
		ids:        ids,
		index:      make(map[string]int, len(ids)),
		deps:       make([][]int, len(ids)),
		dependents: make([][]int, len(ids)),
	}
	for i, id := range ids {
		if _, dup := g.index[id]; dup {
			return nil, fmt.Errorf("duplicate node %q", id)
		}
		g.index[id] = i
	}
	for i, id := range ids {
		seen := make(map[int]bool)
		for _, d := range deps[id] {
			j, ok := g.index[d]
			if !ok {
				return nil, fmt.Errorf("node %q depends on unknown node %q", id, d)
			}
			if seen[j] {
				continue
			}
			seen[j] = true
			g.deps[i] = append(g.deps[i], j)
			g.dependents[j] = append(g.dependents[j], i)
		}
	}
	if c := g.findCycle(); c != nil {
		return nil, &CycleError{Cycle: c}
	}
	g.order = g.topo()
	return g, nil
}

// findCycle returns one cycle (first found in declaration order) or nil.
func (g *Graph) findCycle() []string {
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(g.ids))
	var stack []int
	var cycle []string
	var visit func(i int) bool
	visit = func(i int) bool {
		color[i] = grey
		stack = append(stack, i)
		for _, j := range g.deps[i] {
			switch color[j] {
			case grey:
				// j is on the stack: the cycle is stack[pos(j):] + j, and
				// since edges point at dependencies, reverse it so it
				// reads "a needs b needs ... needs a".
				k := len(stack) - 1
				for stack[k] != j {
					k--
				}
				for m := k; m < len(stack); m++ {
					cycle = append(cycle, g.ids[stack[m]])
				}
				cycle = append(cycle, g.ids[j])
				return true
			case white:
				if visit(j) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[i] = black
		return false
	}
	for i := range g.ids {
		if color[i] == white && visit(i) {
			return cycle
		}
	}
	return nil
}

// topo is Kahn's algorithm, releasing ready nodes in declaration order.
func (g *Graph) topo() []string {
	pending := make([]int, len(g.ids))
	for i := range g.ids {
		pending[i] = len(g.deps[i])
	}
	ready := &IndexHeap{}
	for i, n := range pending {
		if n == 0 {
			heap.Push(ready, i)
		}
	}
	out := make([]string, 0, len(g.ids))
	for ready.Len() > 0 {
		i := heap.Pop(ready).(int)
		out = append(out, g.ids[i])
		for _, j := range g.dependents[i] {
			pending[j]--
			if pending[j] == 0 {
				heap.Push(ready, j)
			}
		}
	}
	return out
}

// Order returns every node in a topological order (dependencies first),
// ties broken by declaration order.
func (g *Graph) Order() []string { return g.order }

// Deps returns the direct dependencies of id.
func (g *Graph) Deps(id string) []string { return g.names(g.deps[g.index[id]]) }

// Dependents returns the nodes that directly depend on id.
func (g *Graph) Dependents(id string) []string { return g.names(g.dependents[g.index[id]]) }

// Has reports whether id is a node.
func (g *Graph) Has(id string) bool {
	_, ok := g.index[id]
	return ok
}

// Closure returns ids and everything they transitively depend on.
func (g *Graph) Closure(ids []string) map[string]bool {
	out := make(map[string]bool)
	var stack []int
	for _, id := range ids {
		if i, ok := g.index[id]; ok && !out[id] {
			out[id] = true
			stack = append(stack, i)
		}
	}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, j := range g.deps[i] {
			if !out[g.ids[j]] {
				out[g.ids[j]] = true
				stack = append(stack, j)
			}
		}
	}
	return out
}

// Edges calls fn for every edge from a dependency to its dependent, in
// declaration order of the dependents.
func (g *Graph) Edges(fn func(from, to string)) {
	for i, id := range g.ids {
		for _, j := range g.deps[i] {
			fn(g.ids[j], id)
		}
	}
}

func (g *Graph) names(is []int) []string {
	out := make([]string, len(is))
	for k, i := range is {
		out[k] = g.ids[i]
	}
	return out
}

// IndexHeap is a min-heap of node indexes for container/heap: the ready set
// of a deterministic topological walk.
type IndexHeap []int

// Len implements heap.Interface.
func (h IndexHeap) Len() int { return len(h) }

// Less implements heap.Interface.
func (h IndexHeap) Less(i, j int) bool { return h[i] < h[j] }

// Swap implements heap.Interface.
func (h IndexHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }

// Push implements heap.Interface.
func (h *IndexHeap) Push(x any) { *h = append(*h, x.(int)) }

// Pop implements heap.Interface.
func (h *IndexHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
