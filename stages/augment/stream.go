package augment

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// Stream produces n items in background goroutines and hands them to one
// consumer in index order. At most queue items are produced ahead of the
// consumer; buffers are recycled through Release. Each item is produced by
// produce(worker, index, item), where worker identifies the goroutine
// (0 ≤ worker < workers) so callers can keep per-goroutine scratch state;
// the content of item i must depend only on i for results to be
// independent of scheduling.
type Stream[T any] struct {
	n      int
	next   int
	slots  []chan result[T]
	tokens chan struct{}
	free   chan T
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type result[T any] struct {
	item T
	err  error
}

// NewStream starts the workers. alloc makes a new item buffer when no
// released one is available.
func NewStream[T any](ctx context.Context, n, workers, queue int, alloc func() T, produce func(worker, i int, item T) error) *Stream[T] {
	workers, queue = max(1, workers), max(1, queue)
	ctx, cancel := context.WithCancel(ctx)
	s := &Stream[T]{n: n, slots: make([]chan result[T], n), tokens: make(chan struct{}, queue),
		free: make(chan T, queue+1), ctx: ctx, cancel: cancel}
	for i := range s.slots {
		s.slots[i] = make(chan result[T], 1)
	}
	for range queue {
		s.tokens <- struct{}{}
	}
	var counter atomic.Int64
	for w := range workers {
		s.wg.Go(func() {
			for {
				select {
				case <-s.tokens:
				case <-ctx.Done():
					return
				}
				i := int(counter.Add(1) - 1)
				if i >= n {
					return
				}
				var item T
				select {
				case item = <-s.free:
				default:
					item = alloc()
				}
				err := produce(w, i, item)
				s.slots[i] <- result[T]{item, err}
			}
		})
	}
	return s
}

// Next returns the next item in index order, waiting for it if needed.
// Give it back with Release once consumed.
func (s *Stream[T]) Next() (T, error) {
	var zero T
	if s.next >= s.n {
		return zero, fmt.Errorf("stream: all %d items were taken", s.n)
	}
	select {
	case r := <-s.slots[s.next]:
		s.next++
		if r.err != nil {
			return zero, fmt.Errorf("stream item %d: %w", s.next-1, r.err)
		}
		return r.item, nil
	case <-s.ctx.Done():
		return zero, s.ctx.Err()
	}
}

// Release returns a consumed item's buffer for reuse and lets the workers
// produce one more item.
func (s *Stream[T]) Release(item T) {
	select {
	case s.free <- item:
	default:
	}
	s.tokens <- struct{}{}
}

// Close stops the workers and waits for them.
func (s *Stream[T]) Close() {
	s.cancel()
	s.wg.Wait()
}
