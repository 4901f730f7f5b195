// Package slurm runs workflow stages as Slurm batch jobs.
//
// Each stage attempt is one job that runs this same runner binary in its
// hidden worker mode for that one stage and cache key, writing into the
// stage's staging dir on the shared file system; the coordinating runner
// then hashes and commits the result exactly as for a local run. The
// executor submits with `sbatch --parsable`, watches all jobs of the run
// with one `squeue` call per poll interval (backing off while the
// controller does not answer), reads the final state from `scontrol show
// job` (no accounting database needed), falling back to the job completion
// log and the worker's own status file, and cancels with `scancel`. Job ids
// are journaled in the workspace, so a restarted `runner apply` re-attaches
// to a job that is still running instead of submitting it again.
//
// Files under the workspace's slurm/ folder:
//
//	jobs/<stage>.json          journal: the stage's latest job (key, id, dirs)
//	scripts/<stage>.<key16>.sh job script: exec runner __slurm-worker SPEC
//	specs/<stage>.<key16>.json worker spec: workflow, stage, key, components
//	logs/<stage>.<jobid>.out   the job's output (also streamed to the stage log)
//	status/<jobid>.json        the worker's exit status
package slurm

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nnrunner/nnrunner/pipeline/engine"
	"github.com/nnrunner/nnrunner/pipeline/workspace"
	"github.com/nnrunner/nnrunner/schema"
)

// Name is the `executor:` value of Slurm stages.
const Name = "slurm"

// WorkerCommand is the hidden runner command a job runs.
const WorkerCommand = "__slurm-worker"

// tailLines is how many lines of a failed job's log its error quotes.
const tailLines = 20

// cancelWait bounds how long a cancelled job may take to leave the queue.
const cancelWait = 2 * time.Minute

// Config configures an Executor.
type Config struct {
	// Workflow is the loaded workflow and Set the --set overrides it was
	// loaded with; the worker loads it the same way.
	Workflow *schema.Workflow
	Set      []string
	// Runner is the runner binary the jobs run; it must be at the same path
	// on the compute nodes (default: this executable).
	Runner string
	// LogFormat is the workers' log format, "human" or "json".
	LogFormat string
	Log       hclog.Logger
	// PollInterval is the time between two squeue calls (default: the
	// workflow's slurm.poll_interval); MaxBackoff caps the delay after
	// failed calls (default: 5 minutes, at least PollInterval).
	PollInterval time.Duration
	MaxBackoff   time.Duration
	// Command runs the Slurm client tools (default: os/exec).
	Command CommandFunc
}

// Executor runs stages as Slurm jobs. It implements engine.Executor.
type Executor struct {
	cfg     Config
	runID   string
	root    string // the workspace's slurm/ folder
	journal journal
	client  client
	poller  *poller
	log     hclog.Logger
}

// New returns an Executor for the workflow. It runs no Slurm command
// before a stage is handed to it.
func New(cfg Config) (*Executor, error) {
	if cfg.Log == nil {
		cfg.Log = hclog.NewNullLogger()
	}
	if cfg.Command == nil {
		cfg.Command = execCommand
	}
	if cfg.Runner == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("slurm executor: locate the runner binary: %w", err)
		}
		cfg.Runner = exe
	}
	if cfg.LogFormat == "" {
		cfg.LogFormat = "human"
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = cfg.Workflow.SlurmPoll
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = schema.DefaultSlurmPoll
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.MaxBackoff < cfg.PollInterval {
		cfg.MaxBackoff = cfg.PollInterval
	}
	var rnd [3]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("slurm executor: run id: %w", err)
	}
	root := filepath.Join(cfg.Workflow.Workspace, "slurm")
	c := client{run: cfg.Command}
	return &Executor{
		cfg:     cfg,
		runID:   time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(rnd[:]),
		root:    root,
		journal: journal{dir: filepath.Join(root, "jobs")},
		client:  c,
		poller: &poller{client: c, log: cfg.Log, interval: cfg.PollInterval, maxBackoff: cfg.MaxBackoff,
			after: time.After, watchers: map[string]*watcher{}},
		log: cfg.Log,
	}, nil
}

// RunID identifies this runner process's jobs: their names are
// nnr-<run id>-<stage>.
func (x *Executor) RunID() string { return x.runID }

// Keeps reports whether the journal holds a job of stage id for the key
// with hex prefix keyPrefix, whose staging dir must then be kept.
func (x *Executor) Keeps(id, keyPrefix string) bool {
	e, err := x.journal.load(id)
	return err == nil && e != nil && strings.HasPrefix(e.Key, keyPrefix)
}

// JobError is a Slurm job that did not succeed.
type JobError struct {
	JobID    string
	State    string
	ExitCode int
	Signal   int
	// Log is the job's output file and Tail its last lines.
	Log  string
	Tail []string
}

func (e *JobError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "slurm job %s ended %s with exit code %d", e.JobID, e.State, e.ExitCode)
	if e.Signal != 0 {
		fmt.Fprintf(&b, " (signal %d)", e.Signal)
	}
	if len(e.Tail) > 0 {
		fmt.Fprintf(&b, "; last %d line(s) of %s:\n%s", len(e.Tail), e.Log, strings.Join(e.Tail, "\n"))
	} else if e.Log != "" {
		fmt.Fprintf(&b, "; its log %s is empty or missing", e.Log)
	}
	return b.String()
}

// Run runs one attempt of job.Stage as a Slurm job, or re-attaches to the
// journaled job of the same key, and waits for it.
func (x *Executor) Run(ctx context.Context, job *engine.Job) error {
	s, key := job.Stage, job.Key.String()
	prev, err := x.journal.load(s.ID)
	if err != nil {
		return err
	}
	switch {
	case prev == nil:
	case prev.Key != key:
		x.dropOutdated(ctx, prev)
		prev = nil
	case prev.RunID == x.runID:
		prev = nil // this process's earlier attempt, which it saw end
	}
	if prev != nil && prev.JobID == "" {
		if prev.JobID, err = x.findByName(ctx, prev.JobName); err != nil {
			return err
		}
		if prev.JobID != "" {
			job.Log.Info("found the slurm job submitted just before an earlier runner stopped", "job", prev.JobID)
			prev.Output = x.outputPath(s.ID, prev.JobID)
			if err := x.journal.save(prev); err != nil {
				return err
			}
		}
	}
	if prev != nil && prev.JobID != "" {
		info, active, err := x.wait(ctx, job, prev)
		switch {
		case err != nil:
			return err
		case active:
			// We watched it end: its result is this attempt's.
			return x.result(info, prev)
		case info.Succeeded() && !emptyDir(job.Dir):
			job.Log.Info("the slurm job finished while no runner watched it; committing its result", "job", prev.JobID)
			return nil
		default:
			job.Log.Warn("the earlier slurm job of this key did not leave a result; submitting a new one",
				"job", prev.JobID, "state", info.State, "exit_code", info.ExitCode)
		}
	}
	e, err := x.submit(ctx, job)
	if err != nil {
		return err
	}
	info, _, err := x.wait(ctx, job, e)
	if err != nil {
		return err
	}
	return x.result(info, e)
}

// dropOutdated cancels the journaled job of an earlier key if it still
// runs; its result would not be used.
func (x *Executor) dropOutdated(ctx context.Context, prev *entry) {
	if prev.JobID == "" {
		return
	}
	info, err := x.client.show(ctx, prev.JobID)
	if err != nil || Terminal(info.State) {
		return
	}
	x.log.Warn("cancelling the slurm job of an outdated key", "stage", prev.Stage, "job", prev.JobID)
	if err := x.client.cancel(context.WithoutCancel(ctx), prev.JobID); err != nil {
		x.log.Warn("could not cancel the outdated job", "job", prev.JobID, "error", err)
	}
}

// findByName returns the id of the job named name, or "" when there is
// none: sbatch may have submitted it just before the runner died.
func (x *Executor) findByName(ctx context.Context, name string) (string, error) {
	out, err := x.client.run(ctx, "squeue", "--noheader", "--me", "--states=all", "--name="+name, "--format="+squeueFormat)
	if err != nil {
		return "", fmt.Errorf("look for job %s: %w", name, err)
	}
	entries, err := parseSqueue(out)
	if err != nil {
		return "", err
	}
	for id := range entries {
		return id, nil
	}
	return "", nil
}

// sbatchArgs returns the sbatch options of a job of stage s.
func sbatchArgs(s *schema.Stage, name, output string) []string {
	args := []string{
		"--job-name=" + name,
		"--output=" + output,
		"--cpus-per-task=" + strconv.Itoa(max(s.Resources.CPUs, 1)),
	}
	if m := s.Resources.Memory; m > 0 {
		args = append(args, "--mem="+strconv.FormatInt((m+(1<<20)-1)>>20, 10)+"M")
	}
	if s.Resources.GPUs > 0 {
		args = append(args, "--gres=gpu:"+strconv.Itoa(s.Resources.GPUs))
	}
	if s.Slurm.Time != "" {
		args = append(args, "--time="+s.Slurm.Time)
	}
	if s.Slurm.Partition != "" {
		args = append(args, "--partition="+s.Slurm.Partition)
	}
	return append(args, s.Slurm.Args...)
}

// script returns the job script running the worker on spec.
func script(runner, spec string) string {
	return "#!/bin/sh\n# Written by nnrunner: runs one workflow stage; see " + spec + "\nexec " +
		shellQuote(runner) + " " + WorkerCommand + " " + shellQuote(spec) + "\n"
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// submit prepares the staging dir, worker spec and script, journals the
// job and submits it.
func (x *Executor) submit(ctx context.Context, job *engine.Job) (*entry, error) {
	s, key := job.Stage, job.Key.String()
	if !job.Resumed {
		if err := workspace.RemoveAll(job.Dir); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(job.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("stage %s: %w", s.ID, err)
		}
	}
	spec := &WorkerSpec{
		Workflow:   x.cfg.Workflow.File,
		Set:        x.cfg.Set,
		Stage:      s.ID,
		Key:        job.Key,
		Components: job.Components,
		Dir:        job.Dir,
		Resumed:    job.Resumed,
		LogFormat:  x.cfg.LogFormat,
		StatusDir:  x.statusDir(),
	}
	specPath, scriptPath := x.jobFiles(s.ID, key)
	data, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("stage %s: encode worker spec: %w", s.ID, err)
	}
	if err := writeFileAtomic(specPath, data); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(scriptPath, []byte(script(x.cfg.Runner, specPath))); err != nil {
		return nil, err
	}
	if err := os.Chmod(scriptPath, 0o755); err != nil {
		return nil, fmt.Errorf("stage %s: %w", s.ID, err)
	}
	logs := filepath.Join(x.root, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return nil, fmt.Errorf("stage %s: %w", s.ID, err)
	}
	e := &entry{
		Stage: s.ID, Key: key, RunID: x.runID, JobName: "nnr-" + x.runID + "-" + s.ID,
		Dir: job.Dir, Script: scriptPath, Submitted: time.Now().UTC(),
	}
	if err := x.journal.save(e); err != nil {
		return nil, err
	}
	args := sbatchArgs(s, e.JobName, x.outputPath(s.ID, "%j"))
	id, err := x.client.submit(ctx, args, scriptPath)
	if err != nil {
		return nil, fmt.Errorf("stage %s: %w", s.ID, err)
	}
	e.JobID = id
	e.Output = x.outputPath(s.ID, id)
	if err := x.journal.save(e); err != nil {
		// The job runs but is not journaled: cancel it rather than lose it.
		_ = x.client.cancel(context.WithoutCancel(ctx), id)
		return nil, err
	}
	job.Log.Info("submitted slurm job", "job", id, "name", e.JobName, "args", strings.Join(args, " "))
	return e, nil
}

// jobFiles returns the worker spec and job script paths of stage id's job
// for key.
func (x *Executor) jobFiles(id, key string) (spec, script string) {
	base := id + "." + key[:min(16, len(key))]
	return filepath.Join(x.root, "specs", base+".json"), filepath.Join(x.root, "scripts", base+".sh")
}

// statusDir is the folder workers write their exit status into (see
// statusPath).
func (x *Executor) statusDir() string { return filepath.Join(x.root, "status") }

// outputPath returns the path of the output file of stage id's job (or
// of the pattern "%j").
func (x *Executor) outputPath(id, job string) string {
	return filepath.Join(x.root, "logs", id+"."+job+".out")
}

// wait follows job e until it ends, streaming its log to job.Output. It
// returns the job's final state and whether it was seen queued or running.
// When ctx is cancelled it cancels the job and waits for it to leave.
func (x *Executor) wait(ctx context.Context, job *engine.Job, e *entry) (*JobInfo, bool, error) {
	w := x.poller.watch(e.JobID)
	defer x.poller.unwatch(e.JobID)
	tail := &logTail{path: e.Output, out: job.Output}
	active, cancelled := false, false
	lastState := ""
	var deadline <-chan time.Time
	for {
		select {
		case <-w.ch:
		case <-ctx.Done():
			if !cancelled {
				cancelled = true
				job.Log.Warn("cancelling slurm job", "job", e.JobID)
				if err := x.client.cancel(context.WithoutCancel(ctx), e.JobID); err != nil {
					job.Log.Error("could not cancel the slurm job; cancel it by hand", "job", e.JobID, "error", err)
					return nil, active, fmt.Errorf("slurm job %s: %w", e.JobID, ctx.Err())
				}
				deadline = time.After(cancelWait)
			}
			select {
			case <-w.ch:
			case <-deadline:
				return nil, active, fmt.Errorf("slurm job %s was cancelled but is still listed after %s: %w", e.JobID, cancelWait, ctx.Err())
			}
		}
		tail.copy(false)
		q, listed, polled := w.state()
		if !polled {
			continue
		}
		if listed && !Terminal(q.State) {
			if !active {
				if e.RunID != x.runID {
					job.Log.Info("re-attached to the slurm job of an earlier run", "job", e.JobID, "state", q.State)
				}
				active = true
			}
			if q.State != lastState {
				lastState = q.State
				if q.State == "PENDING" {
					job.Log.Info("slurm job pending", "job", e.JobID, "reason", q.Reason)
				} else {
					job.Log.Info("slurm job "+strings.ToLower(q.State), "job", e.JobID)
				}
			}
			continue
		}
		tail.copy(true)
		if cancelled {
			return nil, active, fmt.Errorf("slurm job %s cancelled: %w", e.JobID, ctx.Err())
		}
		info, err := x.final(context.WithoutCancel(ctx), e)
		return info, active, err
	}
}

// final returns the final state of job e: from scontrol while the
// controller still knows the job, else from the job completion log, else
// from the worker's status file.
func (x *Executor) final(ctx context.Context, e *entry) (*JobInfo, error) {
	info, err := x.client.show(ctx, e.JobID)
	if err == nil {
		return info, nil
	}
	if !errors.Is(err, errUnknownJob) {
		return nil, fmt.Errorf("slurm job %s: final state: %w", e.JobID, err)
	}
	if info, err := x.client.jobComp(ctx, e.JobID); err == nil && info != nil {
		return info, nil
	}
	st, err := readStatus(x.statusDir(), e.JobID)
	if err != nil {
		return nil, fmt.Errorf("slurm job %s ended, but the controller no longer knows it and its worker left no status (%v); run apply again", e.JobID, err)
	}
	state := "COMPLETED"
	if st.ExitCode != 0 {
		state = "FAILED"
	}
	return &JobInfo{ID: e.JobID, State: state, ExitCode: st.ExitCode}, nil
}

// result turns a finished job's state into the attempt's error.
func (x *Executor) result(info *JobInfo, e *entry) error {
	if info.Succeeded() {
		return nil
	}
	return &JobError{JobID: e.JobID, State: info.State, ExitCode: info.ExitCode, Signal: info.Signal,
		Log: e.Output, Tail: lastLines(e.Output, tailLines)}
}

// logTail copies the complete new lines of a growing log file to out.
type logTail struct {
	path   string
	out    io.Writer
	offset int64
}

// copy writes the lines added since the last call; with all, also a last
// line without a newline.
func (t *logTail) copy(all bool) {
	if t.path == "" || t.out == nil {
		return
	}
	f, err := os.Open(t.path)
	if err != nil {
		return // not created yet: the job has not started
	}
	defer f.Close()
	if _, err := f.Seek(t.offset, io.SeekStart); err != nil {
		return
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return
	}
	n := bytes.LastIndexByte(data, '\n') + 1
	if all {
		n = len(data)
	}
	if n == 0 {
		return
	}
	_, _ = t.out.Write(data[:n])
	if all && data[n-1] != '\n' {
		_, _ = t.out.Write([]byte("\n"))
	}
	t.offset += int64(n)
}

// lastLines returns the last n lines of the file at path.
func lastLines(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return lines
}

// emptyDir reports whether dir is missing or empty.
func emptyDir(dir string) bool {
	entries, err := os.ReadDir(dir)
	return err != nil || len(entries) == 0
}
