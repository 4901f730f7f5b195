package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nnrunner/nnrunner/pipeline/hashing"
	"github.com/nnrunner/nnrunner/pipeline/record"
	"github.com/nnrunner/nnrunner/pipeline/store"
	"github.com/nnrunner/nnrunner/pipeline/workspace"
	"github.com/nnrunner/nnrunner/schema"
)

// errRestoreFailed marks a restore that failed because the store lacks or
// has a corrupt object; the stage is then run instead.
var errRestoreFailed = errors.New("restore from store failed")

// restore materialises np's result into the stage's out/ directory.
func (e *Engine) restore(ctx context.Context, s *schema.Stage, np *NodePlan) (*record.Result, error) {
	r := np.result
	tmp := e.layout.StagingRun(s.ID, r.Key.String())
	if err := workspace.RemoveAll(tmp); err != nil {
		return nil, err
	}
	if err := e.store.Materialize(ctx, r.Tree, tmp); err != nil {
		if errors.Is(err, store.ErrCorrupt) || errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: %w", errRestoreFailed, err)
		}
		return nil, fmt.Errorf("restore %s: %w", s.ID, err)
	}
	if err := e.commitDir(tmp, s.ID); err != nil {
		return nil, err
	}
	c := &record.Committed{Result: *r, CommittedAt: time.Now().UTC(), Restored: true}
	if err := e.db.PutCommitted(s.ID, c); err != nil {
		return nil, err
	}
	return r, nil
}

// run runs the stage in a staging dir and commits its result: re-hash the
// inputs (a change means the result is tainted), hash the outputs into the
// store, index the result, rename the outputs into place, and write the
// committed record last. A crash at any point leaves either the previous
// committed state or a result the next apply restores.
func (e *Engine) run(ctx context.Context, s *schema.Stage, np *NodePlan) (*record.Result, int, error) {
	key := np.key.String()
	ex, err := e.executor(s)
	if err != nil {
		return nil, 0, err
	}
	dir := e.layout.StagingRun(s.ID, key)
	resumed := false
	if s.Spec.Resume || ex != nil {
		// A remote job may outlive this process: its staging dir must not
		// depend on our pid, and a job still writing it is re-attached.
		dir = e.layout.StagingResume(s.ID, key)
	}
	if s.Spec.Resume {
		if _, err := os.Stat(dir); err == nil {
			resumed = true
			e.log.Info("resuming from the staging dir of a failed attempt", "stage", s.ID, "dir", dir)
		}
	} else if ex == nil {
		if err := workspace.RemoveAll(dir); err != nil {
			return nil, 0, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, 0, fmt.Errorf("stage %s: create staging dir: %w", s.ID, err)
	}
	logPath := filepath.Join(e.layout.LogsDir(), key+".log")
	if err := os.MkdirAll(e.layout.LogsDir(), 0o755); err != nil {
		return nil, 0, fmt.Errorf("stage %s: %w", s.ID, err)
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if resumed {
		flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	logFile, err := os.OpenFile(logPath, flags, 0o644)
	if err != nil {
		return nil, 0, fmt.Errorf("stage %s: open log: %w", s.ID, err)
	}
	defer logFile.Close()
	stageOut := io.MultiWriter(logFile, e.cfg.LogOutput)
	slog := hclog.New(&hclog.LoggerOptions{
		Name:       s.ID,
		Output:     stageOut,
		JSONFormat: e.cfg.LogJSON,
		Level:      e.cfg.LogLevel,
	})

	started := time.Now()
	attempts := 0
	var runErr error
	for attempt := 0; attempt <= s.Retries; attempt++ {
		attempts++
		if attempt > 0 {
			e.log.Warn("retrying", "stage", s.ID, "attempt", attempt+1, "of", s.Retries+1)
			if !s.Spec.Resume {
				if err := resetDir(dir); err != nil {
					return nil, attempts, err
				}
			} else {
				resumed = true
			}
		}
		if ex != nil {
			runErr = ex.Run(ctx, &Job{Stage: s, Key: np.key, Components: np.components, Dir: dir,
				Resumed: resumed, Attempt: attempts, Log: slog, Output: stageOut})
			if runErr == nil {
				runErr = checkOutputs(s, dir)
			}
		} else {
			runErr = e.runOnce(ctx, s, dir, resumed, slog)
		}
		if runErr == nil || ctx.Err() != nil {
			break
		}
	}
	if runErr != nil {
		if s.Spec.Resume {
			e.log.Info("keeping the staging dir so the next attempt resumes", "stage", s.ID, "dir", dir)
		} else if err := workspace.RemoveAll(dir); err != nil {
			e.log.Warn("could not remove staging dir", "dir", dir, "error", err)
		}
		return nil, attempts, &StageError{Stage: s.ID, Attempts: attempts, Err: runErr}
	}
	// From here on the stage has finished: commit it even if the apply is
	// being cancelled, so the summary's "finished" is true.
	cctx := context.WithoutCancel(ctx)
	if changed, err := e.changedInputs(cctx, s, np); err != nil {
		return nil, attempts, err
	} else if len(changed) > 0 {
		_ = workspace.RemoveAll(dir)
		return nil, attempts, &TaintedError{Stage: s.ID, Inputs: changed}
	}
	if err := logFile.Sync(); err != nil {
		return nil, attempts, fmt.Errorf("stage %s: sync log: %w", s.ID, err)
	}
	res, err := e.commitRun(cctx, s, np, dir, logPath)
	if err != nil {
		return nil, attempts, err
	}
	res.Started, res.Duration, res.Attempts, res.Resumed = started.UTC(), time.Since(started).Seconds(), attempts, resumed
	if err := e.db.PutResult(res); err != nil {
		return nil, attempts, err
	}
	if err := e.commitDir(dir, s.ID); err != nil {
		return nil, attempts, err
	}
	if err := e.db.PutCommitted(s.ID, &record.Committed{Result: *res, CommittedAt: time.Now().UTC()}); err != nil {
		return nil, attempts, err
	}
	return res, attempts, nil
}

// runOnce runs the stage implementation once and checks its declared
// outputs.
func (e *Engine) runOnce(ctx context.Context, s *schema.Stage, dir string, resumed bool, log hclog.Logger) error {
	threads := s.Resources.CPUs
	if threads > e.machine.CPUs {
		threads = e.machine.CPUs
	}
	if threads < 1 {
		threads = 1
	}
	return RunLocal(ctx, s, dir, resumed, threads, log)
}

// changedInputs re-hashes every input after a run and names those whose
// content differs from what the key was computed from.
func (e *Engine) changedInputs(ctx context.Context, s *schema.Stage, np *NodePlan) ([]string, error) {
	var changed []string
	for _, in := range s.Inputs {
		m, err := e.hasher.Hash(ctx, in.Path)
		if errors.Is(err, fs.ErrNotExist) {
			changed = append(changed, in.Name+" (deleted)")
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("stage %s: re-hash input %s: %w", s.ID, in.Name, err)
		}
		if m.Root() != np.components.Inputs[in.Name] {
			changed = append(changed, in.Name)
		}
	}
	return changed, nil
}

// commitRun hashes the staging dir into the store and builds the result
// record (without timing fields).
func (e *Engine) commitRun(ctx context.Context, s *schema.Stage, np *NodePlan, dir, logPath string) (*record.Result, error) {
	m, err := e.hasher.Hash(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("stage %s: hash outputs: %w", s.ID, err)
	}
	tree, err := e.store.Put(ctx, dir, m)
	if err != nil {
		return nil, fmt.Errorf("stage %s: store outputs: %w", s.ID, err)
	}
	res := &record.Result{
		Key:        np.key,
		Stage:      s.ID,
		Components: *np.components,
		Tree:       tree,
		Outputs:    map[string]record.Output{},
		Host:       hostname(),
		Runner:     e.cfg.Version,
	}
	for _, o := range s.Outputs {
		sub := subManifest(m, o.Path)
		res.Outputs[o.Name] = record.Output{Path: o.Path, Digest: sub.Root(), Size: sub.TotalSize()}
		// Downstream stages use this output as an input: keep its file
		// list so their plans can say which file changed.
		if err := e.db.PutInputManifest(sub); err != nil {
			return nil, err
		}
	}
	if seed, ok := s.With["seed"]; ok {
		res.Seed = seed
	}
	if logData, err := os.ReadFile(logPath); err == nil {
		res.LogDigest = hashing.Sum(logData)
	}
	for _, in := range s.Inputs {
		mf := np.manifests[in.Name]
		if mf == nil {
			continue
		}
		if err := e.db.PutInputManifest(mf); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// commitDir renames the finished dir into stage id's out/ directory,
// replacing what was there. A crash between the two renames leaves no
// out/ directory, which the next apply restores.
func (e *Engine) commitDir(dir, id string) error {
	dst := e.layout.Out(id)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("commit %s: %w", id, err)
	}
	old := dir + ".old"
	if err := os.Rename(dst, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("commit %s: move old outputs aside: %w", id, err)
	}
	if err := os.Rename(dir, dst); err != nil {
		return fmt.Errorf("commit %s: %w", id, err)
	}
	if err := record.SyncDir(filepath.Dir(dst)); err != nil {
		return fmt.Errorf("commit %s: %w", id, err)
	}
	return workspace.RemoveAll(old)
}

func resetDir(dir string) error {
	if err := workspace.RemoveAll(dir); err != nil {
		return err
	}
	return os.MkdirAll(dir, 0o755)
}
