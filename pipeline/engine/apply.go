package engine

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nnrunner/nnrunner/pipeline/dag"
	"github.com/nnrunner/nnrunner/pipeline/record"
	"github.com/nnrunner/nnrunner/pipeline/workspace"
	"github.com/nnrunner/nnrunner/schema"
)

// Status is how a stage ended in an apply.
type Status string

// Statuses.
const (
	Done      Status = "done"      // skipped, restored or ran and committed
	Failed    Status = "failed"    // ran and failed
	Tainted   Status = "tainted"   // ran, but inputs changed meanwhile
	Blocked   Status = "blocked"   // not run: a stage it needs did not finish
	Cancelled Status = "cancelled" // interrupted
)

// Outcome is one stage's result in an apply.
type Outcome struct {
	Stage    string        `json:"stage"`
	Decision Decision      `json:"decision,omitempty"`
	Status   Status        `json:"status"`
	Reason   string        `json:"reason,omitempty"`
	Duration time.Duration `json:"duration_ns"`
	Attempts int           `json:"attempts,omitempty"`
	Err      error         `json:"-"`
}

// Summary is the outcome of every selected stage, in topological order.
type Summary struct {
	Outcomes []*Outcome
}

// ApplyOptions control Apply.
type ApplyOptions struct {
	Selection
	// Jobs is the most stages running at once (default: number of CPUs).
	Jobs int
	// NoWait fails instead of waiting when another process holds the
	// workspace lock.
	NoWait bool
	// Command describes this process in the lock file.
	Command string
}

// Apply brings the selected stages up to date: it takes the workspace lock,
// cleans leftovers of interrupted runs, then skips, restores or runs each
// stage as soon as what it needs is done, in parallel within Jobs and the
// machine's cpus, memory and gpus. When ctx is cancelled, running stages are
// cancelled, nothing unfinished is committed, and the error is an
// *InterruptedError.
func (e *Engine) Apply(ctx context.Context, opts ApplyOptions) (*Summary, error) {
	ids, forced, err := e.selected(opts.Selection)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		s, _ := e.wf.Stage(id)
		if remote(s) {
			continue // its executor's machines, not this one, must fit it
		}
		if s.Resources.Memory > e.machine.Memory && e.machine.Memory > 0 {
			return nil, &UsageError{Msg: fmt.Sprintf("stage %s needs %d MiB of memory; this machine has %d MiB", id, s.Resources.Memory>>20, e.machine.Memory>>20)}
		}
		if s.Resources.GPUs > e.machine.GPUs {
			return nil, &UsageError{Msg: fmt.Sprintf("stage %s needs %d GPU(s); this machine has %d", id, s.Resources.GPUs, e.machine.GPUs)}
		}
	}
	lock, err := workspace.AcquireLock(ctx, e.layout, opts.Command, opts.NoWait, e.log)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	if _, err := workspace.CleanStaging(e.layout, e.keepResumeDir, e.log); err != nil {
		return nil, err
	}
	jobs := opts.Jobs
	if jobs <= 0 {
		jobs = e.machine.CPUs
	}
	sum := e.schedule(ctx, ids, forced, jobs)
	if err := e.hasher.Save(); err != nil {
		e.log.Warn("could not save the stat cache", "error", err)
	}
	return sum, sum.err(ctx)
}

// keepResumeDir keeps the staging dirs of resumable stages of this
// workflow, and those of remote stages whose executor may still have a job
// writing them.
func (e *Engine) keepResumeDir(name string) bool {
	id, keyPrefix, _ := workspace.ParseResumeName(name)
	s, ok := e.wf.Stage(id)
	if !ok {
		return false
	}
	return s.Spec.Resume || e.executorKeeps(s, keyPrefix)
}

// executorKeeps reports whether s's executor may still have a job writing
// the staging dir of the key with hex prefix keyPrefix.
func (e *Engine) executorKeeps(s *schema.Stage, keyPrefix string) bool {
	ex, err := e.executor(s)
	return err == nil && ex != nil && ex.Keeps(s.ID, keyPrefix)
}

func (s *Summary) err(ctx context.Context) error {
	var failed, blocked, finished, pending []string
	for _, o := range s.Outcomes {
		switch o.Status {
		case Done:
			finished = append(finished, o.Stage)
		case Failed, Tainted:
			failed = append(failed, o.Stage)
		case Blocked:
			blocked = append(blocked, o.Stage)
		}
		if o.Status != Done {
			pending = append(pending, o.Stage)
		}
	}
	if ctx.Err() != nil && len(pending) > 0 {
		return &InterruptedError{Finished: finished, Pending: pending}
	}
	if len(failed) > 0 {
		return &FailedError{Failed: failed, Blocked: blocked}
	}
	return nil
}

// completion is a finished stage reported to the scheduler.
type completion struct {
	idx    int
	out    *Outcome
	result *record.Result
}

// schedule runs the stages ids (topologically ordered) and returns their
// outcomes.
func (e *Engine) schedule(ctx context.Context, ids []string, forced map[string]bool, jobs int) *Summary {
	n := len(ids)
	pos := make(map[string]int, n)
	for i, id := range ids {
		pos[id] = i
	}
	stages := make([]*schema.Stage, n)
	waiting := make([]int, n)
	dependents := make([][]int, n)
	for i, id := range ids {
		s, _ := e.wf.Stage(id)
		stages[i] = s
		for _, d := range s.Deps {
			if j, ok := pos[d]; ok {
				waiting[i]++
				dependents[j] = append(dependents[j], i)
			}
		}
	}
	outcomes := make([]*Outcome, n)
	results := make([]*record.Result, n)
	ready := &dag.IndexHeap{}
	for i := range ids {
		if waiting[i] == 0 {
			heap.Push(ready, i)
		}
	}
	done := make(chan completion)
	running := 0
	var used Machine
	for {
		if ctx.Err() == nil {
			var deferred []int
			for ready.Len() > 0 && running < jobs {
				i := heap.Pop(ready).(int)
				need := e.need(stages[i])
				if running > 0 && !used.fits(need, e.machine) {
					deferred = append(deferred, i)
					continue
				}
				used = used.add(need, 1)
				running++
				upstream := map[string]*record.Result{}
				for _, d := range stages[i].Deps {
					if j, ok := pos[d]; ok {
						upstream[d] = results[j]
					}
				}
				go func(i int, upstream map[string]*record.Result) {
					out, res := e.process(ctx, stages[i], upstream, forced[stages[i].ID])
					done <- completion{idx: i, out: out, result: res}
				}(i, upstream)
			}
			for _, i := range deferred {
				heap.Push(ready, i)
			}
		}
		if running == 0 {
			break
		}
		c := <-done
		running--
		used = used.add(e.need(stages[c.idx]), -1)
		outcomes[c.idx], results[c.idx] = c.out, c.result
		if c.out.Status == Done {
			for _, j := range dependents[c.idx] {
				waiting[j]--
				if waiting[j] == 0 {
					heap.Push(ready, j)
				}
			}
			continue
		}
		e.block(c.idx, ids, dependents, outcomes)
	}
	sum := &Summary{}
	for i, o := range outcomes {
		if o == nil {
			o = &Outcome{Stage: ids[i], Status: Cancelled, Reason: "not started: interrupted"}
		}
		sum.Outcomes = append(sum.Outcomes, o)
	}
	return sum
}

// block marks every stage downstream of failed stage i as blocked.
func (e *Engine) block(i int, ids []string, dependents [][]int, outcomes []*Outcome) {
	stack := append([]int{}, dependents[i]...)
	for len(stack) > 0 {
		j := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if outcomes[j] != nil {
			continue
		}
		outcomes[j] = &Outcome{Stage: ids[j], Status: Blocked, Reason: "not run: " + ids[i] + " did not finish"}
		stack = append(stack, dependents[j]...)
	}
}

// need returns what stage s reserves while it is processed, capped at the
// machine (a stage asking for more cores than exist gets all of them).
func (e *Engine) need(s *schema.Stage) Machine {
	if remote(s) {
		return Machine{}
	}
	cpus := s.Resources.CPUs
	if cpus > e.machine.CPUs {
		cpus = e.machine.CPUs
	}
	return Machine{CPUs: cpus, Memory: s.Resources.Memory, GPUs: s.Resources.GPUs}
}

func (m Machine) fits(need, total Machine) bool {
	return m.CPUs+need.CPUs <= total.CPUs &&
		(total.Memory == 0 || m.Memory+need.Memory <= total.Memory) &&
		m.GPUs+need.GPUs <= total.GPUs
}

func (m Machine) add(x Machine, sign int) Machine {
	return Machine{CPUs: m.CPUs + sign*x.CPUs, Memory: m.Memory + int64(sign)*x.Memory, GPUs: m.GPUs + sign*x.GPUs}
}

// process decides and carries out one stage.
func (e *Engine) process(ctx context.Context, s *schema.Stage, upstream map[string]*record.Result, forced bool) (*Outcome, *record.Result) {
	start := time.Now()
	out := &Outcome{Stage: s.ID}
	finish := func(st Status, err error) *Outcome {
		out.Status, out.Err, out.Duration = st, err, time.Since(start)
		if err != nil {
			out.Reason = err.Error()
		}
		return out
	}
	np, err := e.evaluate(ctx, s, upstream, forced)
	if err != nil {
		e.log.Error("cannot decide", "stage", s.ID, "error", err)
		return finish(Failed, err), nil
	}
	out.Decision, out.Reason = np.Decision, np.Reason
	e.log.Info(string(np.Decision), "stage", s.ID, "reason", np.Reason)
	var res *record.Result
	switch np.Decision {
	case Skip:
		res = np.result
	case Restore:
		res, err = e.restore(ctx, s, np)
		if errors.Is(err, errRestoreFailed) {
			e.log.Warn("restore failed; running the stage instead", "stage", s.ID, "error", err)
			out.Decision, out.Reason = Run, "restore failed: "+err.Error()
			res, out.Attempts, err = e.run(ctx, s, np)
		}
	case Run:
		res, out.Attempts, err = e.run(ctx, s, np)
	}
	var tainted *TaintedError
	switch {
	case err == nil:
		finish(Done, nil)
		if out.Decision != Skip {
			e.log.Info("done", "stage", s.ID, "decision", string(out.Decision), "duration", out.Duration.Round(time.Millisecond))
		}
	case ctx.Err() != nil:
		finish(Cancelled, err)
		e.log.Warn("cancelled", "stage", s.ID)
	case errors.As(err, &tainted):
		finish(Tainted, err)
		e.log.Warn("result discarded", "stage", s.ID, "error", err)
	default:
		finish(Failed, err)
		e.log.Error("failed", "stage", s.ID, "error", err)
	}
	if out.Status != Done {
		return out, nil
	}
	return out, res
}

// hostname returns the host name recorded in results.
func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}
