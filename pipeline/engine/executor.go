package engine

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	"github.com/nnrunner/nnrunner/pipeline/cachekey"
	"github.com/nnrunner/nnrunner/pipeline/hashing"
	"github.com/nnrunner/nnrunner/pipeline/stage"
	"github.com/nnrunner/nnrunner/schema"
)

// Executor runs stage attempts outside this process, e.g. as cluster jobs
// writing into the staging dir on a shared file system. It only fills the
// staging dir: the engine hashes and commits the result exactly as for a
// local run. Stages with `executor: NAME` use Config.Executors[NAME].
type Executor interface {
	// Run runs one attempt of job.Stage into job.Dir and returns when it
	// has ended: nil when it succeeded, an error saying why otherwise. When
	// ctx is cancelled it stops the attempt and returns an error wrapping
	// ctx.Err(). A job that outlived an earlier runner process may be
	// re-attached instead of started again.
	Run(ctx context.Context, job *Job) error
	// Keeps reports whether the staging dir of stage id for the key with
	// hex prefix keyPrefix may belong to such a job, so apply's clean-up of
	// leftover staging dirs keeps it.
	Keeps(id, keyPrefix string) bool
	// Prune deletes the executor's own files of attempts that are over
	// (job scripts, job logs) and returns how many it removed. GC calls it
	// with the workspace lock held.
	Prune() (int, error)
}

// Job is one attempt of a stage handed to an Executor.
type Job struct {
	Stage      *schema.Stage
	Key        hashing.Digest
	Components *cachekey.Components
	// Dir is the staging dir; it exists, and it survives this process so a
	// re-attached job can finish writing it.
	Dir string
	// Resumed is true when Dir holds a failed attempt's files to continue
	// from (resumable stages only); otherwise the executor empties Dir
	// before it starts a new attempt.
	Resumed bool
	// Attempt counts this apply's attempts of the stage from 1.
	Attempt int
	// Log is the stage's logger; Output receives the attempt's own log
	// lines (the stage's log file and the user's terminal).
	Log    hclog.Logger
	Output io.Writer
}

// RunLocal runs stage s once in this process into dir and checks that its
// declared outputs exist. It is the local executor, and what a remote
// worker runs for its one stage.
func RunLocal(ctx context.Context, s *schema.Stage, dir string, resumed bool, threads int, log hclog.Logger) error {
	req := &stage.Request{With: s.With, OutDir: dir, Resumed: resumed, Threads: threads, Log: log}
	if err := s.Impl.Run(ctx, req); err != nil {
		return err
	}
	return checkOutputs(s, dir)
}

// checkOutputs fails when a declared output of s is missing from dir.
func checkOutputs(s *schema.Stage, dir string) error {
	for _, o := range s.Outputs {
		if _, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(o.Path))); err != nil {
			return fmt.Errorf("declared output %s (%s) was not written", o.Name, o.Path)
		}
	}
	return nil
}

// executor returns the executor of stage s: nil for local stages.
func (e *Engine) executor(s *schema.Stage) (Executor, error) {
	if s.Executor == "" || s.Executor == "local" {
		return nil, nil
	}
	ex := e.cfg.Executors[s.Executor]
	if ex == nil {
		return nil, fmt.Errorf("stage %s: executor %q is not available in this runner", s.ID, s.Executor)
	}
	return ex, nil
}

// remote reports whether stage s runs outside this process and so takes
// none of this machine's cpus, memory and gpus.
func remote(s *schema.Stage) bool {
	return s.Executor != "" && s.Executor != "local"
}
