package engine

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/nnrunner/nnrunner/pipeline/hashing"
	"github.com/nnrunner/nnrunner/pipeline/record"
	"github.com/nnrunner/nnrunner/pipeline/workspace"
)

// GCOptions control GC.
type GCOptions struct {
	// KeepLast keeps the newest KeepLast results of each stage besides its
	// committed one; negative keeps all.
	KeepLast int
	// MaxSize, when positive, drops the oldest kept results (never a
	// committed one) until the store is at most this many bytes.
	MaxSize int64
	NoWait  bool
	Command string
}

// GCStats says what GC removed and kept.
type GCStats struct {
	// ResumeDirsRemoved counts the staging dirs of interrupted trainings
	// whose key the workflow no longer plans.
	ResumeDirsRemoved int `json:"resume_dirs_removed"`
	// JobFilesRemoved counts the files executors kept for attempts that
	// are over (Slurm job scripts and logs).
	JobFilesRemoved int   `json:"job_files_removed"`
	ResultsRemoved  int   `json:"results_removed"`
	ResultsKept     int   `json:"results_kept"`
	BytesFreed      int64 `json:"bytes_freed"`
	StoreSize       int64 `json:"store_size"`
}

// GC deletes indexed results beyond the retention rules, then every store
// object, input manifest and log that no kept result references, and the
// resume dirs of interrupted trainings whose key the workflow no longer
// plans. Committed results are always kept.
func (e *Engine) GC(ctx context.Context, opts GCOptions) (*GCStats, error) {
	lock, err := workspace.AcquireLock(ctx, e.layout, opts.Command, opts.NoWait, e.log)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	if n, err := e.db.RemoveTemp(); err != nil {
		return nil, fmt.Errorf("gc: %w", err)
	} else if n > 0 {
		e.log.Info("removed temporary record files left by interrupted runs", "files", n)
	}
	st := &GCStats{}
	if st.ResumeDirsRemoved, err = workspace.CleanStaging(e.layout, e.resumeDirPlanned(ctx), e.log); err != nil {
		return nil, fmt.Errorf("gc: %w", err)
	}
	if st.JobFilesRemoved, err = e.pruneExecutors(); err != nil {
		return nil, fmt.Errorf("gc: %w", err)
	}
	before, err := e.store.Size()
	if err != nil {
		return nil, err
	}
	results, err := e.db.Results()
	if err != nil {
		return nil, err
	}
	committed := map[hashing.Digest]bool{}
	indexed := map[hashing.Digest]bool{}
	for _, r := range results {
		indexed[r.Key] = true
	}
	ids, err := e.db.CommittedStages()
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		c, err := e.db.Committed(id)
		if err != nil {
			return nil, err
		}
		committed[c.Key] = true
		if !indexed[c.Key] {
			// Keep a committed result's objects even if its index entry
			// was deleted by hand.
			r := c.Result
			results = append(results, &r)
			indexed[c.Key] = true
		}
	}
	// Newest first per stage; keep the committed ones and KeepLast more.
	sort.Slice(results, func(i, j int) bool { return results[i].Started.After(results[j].Started) })
	perStage := map[string]int{}
	var kept, drop []*record.Result
	for _, r := range results {
		switch {
		case committed[r.Key]:
			kept = append(kept, r)
		case opts.KeepLast < 0 || perStage[r.Stage] < opts.KeepLast:
			perStage[r.Stage]++
			kept = append(kept, r)
		default:
			drop = append(drop, r)
		}
	}
	if err := e.collect(ctx, kept, drop, st); err != nil {
		return nil, err
	}
	for opts.MaxSize > 0 {
		size, err := e.store.Size()
		if err != nil {
			return nil, err
		}
		victim := -1
		for i := len(kept) - 1; i >= 0; i-- { // oldest first
			if !committed[kept[i].Key] {
				victim = i
				break
			}
		}
		if size <= opts.MaxSize || victim < 0 {
			if size > opts.MaxSize {
				e.log.Warn("the store is still larger than --max-size: what remains is the committed results", "size", size, "max", opts.MaxSize)
			}
			break
		}
		v := kept[victim]
		kept = append(kept[:victim], kept[victim+1:]...)
		if err := e.collect(ctx, kept, []*record.Result{v}, st); err != nil {
			return nil, err
		}
	}
	after, err := e.store.Size()
	if err != nil {
		return nil, err
	}
	st.ResultsKept, st.BytesFreed, st.StoreSize = len(kept), before-after, after
	return st, nil
}

// resumeDirPlanned returns GC's keep rule for resume dirs. It removes the
// dir of an interrupted training only when the stage has committed another
// result since the dir was last written and the workflow, as loaded now,
// plans a different key for the stage; a dir a remote job may still write
// is kept. So a training interrupted last is kept even when gc is run
// without the --set values of its apply. When the workflow cannot be
// planned (an input is missing), every resume dir apply would keep is kept.
func (e *Engine) resumeDirPlanned(ctx context.Context) func(name string) bool {
	plan, err := e.Plan(ctx, Selection{}, false)
	if err != nil {
		e.log.Warn("gc keeps every resume dir: the workflow cannot be planned", "error", err)
		return e.keepResumeDir
	}
	planned := map[string]string{}
	for _, n := range plan.Nodes {
		planned[n.Stage] = n.Key
	}
	return func(name string) bool {
		if !e.keepResumeDir(name) {
			return false
		}
		id, keyPrefix, _ := workspace.ParseResumeName(name)
		key := planned[id]
		if key == "" || strings.HasPrefix(key, keyPrefix) {
			return true
		}
		c, err := e.committed(id)
		if err != nil || c == nil || !c.CommittedAt.After(lastWrite(filepath.Join(e.layout.StagingDir(), name))) {
			return true
		}
		s, _ := e.wf.Stage(id)
		return e.executorKeeps(s, keyPrefix)
	}
}

// pruneExecutors has every configured executor delete its files of
// attempts that are over.
func (e *Engine) pruneExecutors() (int, error) {
	names := make([]string, 0, len(e.cfg.Executors))
	for name := range e.cfg.Executors {
		names = append(names, name)
	}
	sort.Strings(names)
	total := 0
	for _, name := range names {
		n, err := e.cfg.Executors[name].Prune()
		total += n
		if err != nil {
			return total, fmt.Errorf("executor %s: %w", name, err)
		}
	}
	return total, nil
}

// lastWrite returns the newest modification time in the tree at dir. An
// unreadable tree counts as written now, so GC keeps it.
func lastWrite(dir string) time.Time {
	var last time.Time
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.ModTime().After(last) {
			last = info.ModTime()
		}
		return nil
	})
	if err != nil {
		return time.Now()
	}
	return last
}

// collect deletes the drop results and everything only they reference.
func (e *Engine) collect(ctx context.Context, kept, drop []*record.Result, st *GCStats) error {
	for _, r := range drop {
		if err := e.db.DeleteResult(r.Key); err != nil {
			return err
		}
		if err := os.Remove(filepath.Join(e.layout.LogsDir(), r.Key.String()+".log")); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("gc: %w", err)
		}
		st.ResultsRemoved++
	}
	keepTrees := make([]hashing.Digest, 0, len(kept))
	keepInputs := map[hashing.Digest]bool{}
	for _, r := range kept {
		keepTrees = append(keepTrees, r.Tree)
		for _, d := range r.Components.Inputs {
			keepInputs[d] = true
		}
	}
	if _, err := e.store.GC(ctx, keepTrees); err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	inputs, err := e.db.InputManifests()
	if err != nil {
		return err
	}
	for _, d := range inputs {
		if !keepInputs[d] {
			if err := e.db.DeleteInputManifest(d); err != nil {
				return err
			}
		}
	}
	return nil
}
