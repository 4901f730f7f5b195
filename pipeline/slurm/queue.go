package slurm

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// queueTimeout bounds one squeue call.
const queueTimeout = 2 * time.Minute

// poller watches the jobs of one runner process with one squeue call per
// interval for all of them. A failed call (controller down or overloaded)
// doubles the delay up to maxBackoff; a successful one resets it.
type poller struct {
	client     client
	log        hclog.Logger
	interval   time.Duration
	maxBackoff time.Duration
	// after is time.After; tests record the delays instead of sleeping.
	after func(time.Duration) <-chan time.Time

	mu       sync.Mutex
	watchers map[string]*watcher
	running  bool
}

// watcher receives the polled state of one job.
type watcher struct {
	// ch is signalled after every successful poll.
	ch chan struct{}

	mu     sync.Mutex
	polled bool // a poll finished since the watcher was added
	listed bool // the last poll listed the job
	entry  QueueEntry
}

// state returns the last polled state: polled is false before the first
// poll, listed is false when squeue no longer lists the job.
func (w *watcher) state() (e QueueEntry, listed, polled bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.entry, w.listed, w.polled
}

// watch starts watching job id; the caller must call unwatch.
func (p *poller) watch(id string) *watcher {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := &watcher{ch: make(chan struct{}, 1)}
	p.watchers[id] = w
	if !p.running {
		p.running = true
		go p.loop()
	}
	return w
}

// unwatch stops watching job id.
func (p *poller) unwatch(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.watchers, id)
}

// loop polls until no job is watched.
func (p *poller) loop() {
	delay := time.Duration(0)
	for {
		if delay > 0 {
			<-p.after(delay)
		}
		p.mu.Lock()
		if len(p.watchers) == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		delay = p.poll(delay)
	}
}

// poll runs one squeue call, hands the result to every watcher and returns
// the delay before the next call.
func (p *poller) poll(last time.Duration) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), queueTimeout)
	entries, err := p.client.queue(ctx)
	cancel()
	if err != nil {
		next := nextBackoff(last, p.interval, p.maxBackoff)
		p.log.Warn("cannot list slurm jobs; retrying", "in", next, "error", err)
		return next
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, w := range p.watchers {
		e, ok := entries[id]
		w.mu.Lock()
		w.polled, w.listed, w.entry = true, ok, e
		w.mu.Unlock()
		select {
		case w.ch <- struct{}{}:
		default: // a signal is already pending
		}
	}
	return p.interval
}

// nextBackoff returns the delay after a failed poll whose preceding delay
// was last: double it, at least interval, at most max.
func nextBackoff(last, interval, max time.Duration) time.Duration {
	next := 2 * last
	if next < 2*interval {
		next = 2 * interval
	}
	if next > max {
		next = max
	}
	return next
}
