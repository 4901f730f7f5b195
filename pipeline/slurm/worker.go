package slurm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/nnrunner/nnrunner/pipeline/cachekey"
	"github.com/nnrunner/nnrunner/pipeline/engine"
	"github.com/nnrunner/nnrunner/pipeline/hashing"
	"github.com/nnrunner/nnrunner/pipeline/stage"
	"github.com/nnrunner/nnrunner/schema"
)

// WorkerSpec is what a job's worker runs: one stage of a workflow under
// the cache key the coordinating runner computed.
type WorkerSpec struct {
	Workflow   string               `json:"workflow"`
	Set        []string             `json:"set,omitempty"`
	Stage      string               `json:"stage"`
	Key        hashing.Digest       `json:"key"`
	Components *cachekey.Components `json:"components"`
	Dir        string               `json:"dir"`
	Resumed    bool                 `json:"resumed,omitempty"`
	LogFormat  string               `json:"log_format"`
	// StatusDir receives <job id>.json with the worker's exit status.
	StatusDir string `json:"status_dir"`
}

// workerStatus is the worker's exit status, read when the controller has
// forgotten the job.
type workerStatus struct {
	ExitCode int    `json:"exit_code"`
	Error    string `json:"error,omitempty"`
}

// RunWorker runs the stage of the worker spec at specPath in this process:
// it loads the workflow as the coordinating runner did, checks that the
// stage's key components (type, version, params, environment) still give
// the spec's key, and runs the stage into the staging dir. It logs to
// stderr and records its exit status for the coordinating runner.
func RunWorker(ctx context.Context, specPath string, reg *stage.Registry, stderr io.Writer) error {
	data, err := os.ReadFile(specPath)
	if err != nil {
		return fmt.Errorf("read worker spec: %w", err)
	}
	var spec WorkerSpec
	if err := json.Unmarshal(data, &spec); err != nil {
		return fmt.Errorf("worker spec %s: %w", specPath, err)
	}
	runErr := runWorker(ctx, &spec, reg, stderr)
	if id := os.Getenv("SLURM_JOB_ID"); id != "" && spec.StatusDir != "" {
		st := workerStatus{}
		if runErr != nil {
			st.ExitCode, st.Error = 1, runErr.Error()
		}
		b, _ := json.Marshal(st)
		if err := writeFileAtomic(statusPath(spec.StatusDir, id), b); err != nil && runErr == nil {
			return err
		}
	}
	return runErr
}

func runWorker(ctx context.Context, spec *WorkerSpec, reg *stage.Registry, stderr io.Writer) error {
	wf, err := schema.Load(spec.Workflow, schema.Options{Registry: reg, Set: spec.Set})
	if err != nil {
		return err
	}
	s, ok := wf.Stage(spec.Stage)
	if !ok {
		return fmt.Errorf("workflow %s has no stage %q any more; it changed after the job was submitted", spec.Workflow, spec.Stage)
	}
	if err := checkKey(s, spec); err != nil {
		return err
	}
	threads := s.Resources.CPUs
	if n := allocatedCPUs(); threads > n {
		threads = n
	}
	log := hclog.New(&hclog.LoggerOptions{
		Name:       s.ID,
		Output:     stderr,
		JSONFormat: spec.LogFormat == "json",
		Level:      hclog.Info,
	})
	log.Info("running on slurm", "job", os.Getenv("SLURM_JOB_ID"), "host", hostname(), "threads", threads)
	return engine.RunLocal(ctx, s, spec.Dir, spec.Resumed, max(threads, 1), log)
}

// checkKey fails when the stage as this worker sees it would not have the
// spec's cache key: a changed workflow file, runner binary or environment.
// Input contents are taken from the spec; the coordinating runner re-hashes
// the inputs after the job.
func checkKey(s *schema.Stage, spec *WorkerSpec) error {
	if spec.Components == nil {
		return fmt.Errorf("worker spec has no key components")
	}
	mine := &cachekey.Components{
		Schema:  cachekey.SchemaVersion,
		Type:    s.Type,
		Version: s.Spec.Version,
		Params:  s.KeyWith,
		Inputs:  spec.Components.Inputs,
		Env:     map[string]*string{},
	}
	for _, k := range s.Env {
		if v, ok := os.LookupEnv(k); ok {
			mine.Env[k] = &v
		} else {
			mine.Env[k] = nil
		}
	}
	key, err := mine.Key()
	if err != nil {
		return err
	}
	if key == spec.Key {
		return nil
	}
	var diffs []string
	for _, ch := range cachekey.Diff(spec.Components, mine) {
		diffs = append(diffs, ch.String())
	}
	what := "differ"
	if len(diffs) > 0 {
		what = strings.Join(diffs, "; ")
	}
	return fmt.Errorf("stage %s on this node does not have the key %s the runner submitted (%s); the workflow, runner binary or environment changed after submission: run apply again", s.ID, spec.Key.String()[:16], what)
}

// allocatedCPUs returns the cores Slurm gave the job, else this machine's.
func allocatedCPUs() int {
	if n, err := strconv.Atoi(os.Getenv("SLURM_CPUS_PER_TASK")); err == nil && n > 0 {
		return n
	}
	return runtime.NumCPU()
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}

// statusPath returns the exit status file of job id in dir.
func statusPath(dir, id string) string { return filepath.Join(dir, id+".json") }

// readStatus reads the status a worker left for job id.
func readStatus(dir, id string) (*workerStatus, error) {
	data, err := os.ReadFile(statusPath(dir, id))
	if err != nil {
		return nil, err
	}
	var st workerStatus
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("status of job %s: %w", id, err)
	}
	return &st, nil
}
