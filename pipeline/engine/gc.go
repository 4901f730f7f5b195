package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"

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
	ResultsRemoved int   `json:"results_removed"`
	ResultsKept    int   `json:"results_kept"`
	BytesFreed     int64 `json:"bytes_freed"`
	StoreSize      int64 `json:"store_size"`
}

// GC deletes indexed results beyond the retention rules, then every store
// object, input manifest and log that no kept result references. Committed
// results are always kept.
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
	st := &GCStats{}
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
