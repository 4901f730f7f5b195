package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// parallelFor calls body on contiguous pieces [lo, hi) that cover [0, n),
// each at least grain long (except the last), on up to GOMAXPROCS goroutines.
// Pieces must write disjoint outputs; then the result does not depend on the
// schedule.
func parallelFor(n, grain int, body func(lo, hi int)) {
	if n <= 0 {
		return
	}
	grain = max(grain, 1)
	workers := runtime.GOMAXPROCS(0)
	// Eight pieces per worker: a worker that finishes early (or was
	// descheduled less) takes more of them, and the last piece, when the
	// other workers may idle, is at most 1/16 of the work on two cores.
	pieces := min((n+grain-1)/grain, 8*workers)
	if pieces <= 1 || workers == 1 {
		body(0, n)
		return
	}
	size := (n + pieces - 1) / pieces
	pieces = (n + size - 1) / size
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, pieces) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= pieces {
					return
				}
				lo := i * size
				body(lo, min(lo+size, n))
			}
		})
	}
	wg.Wait()
}
