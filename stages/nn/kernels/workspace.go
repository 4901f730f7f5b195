package kernels

import "fmt"

// Workspace holds scratch memory that kernels reuse across calls, so that a
// training step does not allocate. The zero value is ready to use; a nil
// *Workspace makes each call allocate its own scratch. A Workspace must not
// be used by two kernel calls at the same time.
type Workspace struct {
	f32  [numSlots][]float32
	f64  [numSlots][]float64
	ints []int
	// tiles lists the direct-convolution tiles to compute.
	tiles []int
	// colBudget overrides the column-matrix chunk size (elements) when > 0.
	colBudget int
	// maxWaste overrides directMaxWaste and filterMaxWaste when > 0.
	maxWaste float64
}

// Scratch slots: a kernel may hold one buffer of each slot at a time.
const (
	slotCol    = iota // column matrices
	slotWeight        // rearranged weights
	slotPad           // zero-padded input of a direct convolution
	slotGrid          // grid output of a direct convolution
	slotPack          // weights regrouped for the direct convolution tile
	numSlots
)

// scratch returns n elements of the slot's scratch memory with undefined
// contents.
func scratch[T Float](ws *Workspace, slot, n int) []T {
	if ws == nil {
		return make([]T, n)
	}
	var z T
	switch any(z).(type) {
	case float32:
		if cap(ws.f32[slot]) < n {
			ws.f32[slot] = make([]float32, n)
		}
		return any(ws.f32[slot][:n]).([]T)
	default:
		if cap(ws.f64[slot]) < n {
			ws.f64[slot] = make([]float64, n)
		}
		return any(ws.f64[slot][:n]).([]T)
	}
}

// intScratch returns n ints of scratch memory with undefined contents.
func intScratch(ws *Workspace, n int) []int {
	if ws == nil {
		return make([]int, n)
	}
	if cap(ws.ints) < n {
		ws.ints = make([]int, n)
	}
	return ws.ints[:n]
}

// mustLen panics when len(s) != want, naming the argument.
func mustLen[T any](what string, s []T, want int) {
	if len(s) != want {
		panic(fmt.Sprintf("kernels: %s has length %d, want %d", what, len(s), want))
	}
}

// tileScratch returns an empty tile list backed by the workspace.
func tileScratch(ws *Workspace) []int {
	if ws == nil {
		return nil
	}
	return ws.tiles[:0]
}

// keepTiles stores a tile list grown from tileScratch for the next call.
func keepTiles(ws *Workspace, tiles []int) []int {
	if ws != nil {
		ws.tiles = tiles
	}
	return tiles
}
