package slurm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nnrunner/nnrunner/pipeline/record"
	"github.com/nnrunner/nnrunner/pipeline/workspace"
)

// These tests apply workflows on a real Slurm cluster. They run only with
// NNRUNNER_SLURM=1 (see testdata/ci-slurm.sh, which starts a single-node
// cluster and runs them); the workspace must be on a file system the
// cluster's nodes share with this machine.

// rendezvous is a stage command that waits until its partner stage has
// started too, so it only finishes when both run at once; it gives up with
// exit 9 after a minute.
const rendezvous = `d="$RUNNER_OUT/../../rv"; mkdir -p "$d"; touch "$d/$0"; i=0; ` +
	`while [ ! -e "$d/$1" ]; do i=$((i+1)); [ $i -gt 600 ] && exit 9; sleep 0.1; done; ` +
	`cat "$2"/*.txt > "$RUNNER_OUT/out.txt"; echo "$0" >> "$RUNNER_OUT/out.txt"`

const parallelWorkflow = `version: 1
name: slurm-parallel
workspace: WORKSPACE
executor: EXECUTOR
slurm: {poll_interval: 300ms, time: "00:10:00"}
datasets: {d: data}
stages:
  left:
    type: exec
    resources: {cpus: 1, memory: 200MiB}
    with:
      inputs: ["${datasets.d}"]
      argv: [sh, -c, '` + rendezvous + `', left, right, "${datasets.d}"]
      outputs: {out: out.txt}
  right:
    type: exec
    resources: {cpus: 1, memory: 200MiB}
    with:
      inputs: ["${datasets.d}"]
      argv: [sh, -c, '` + rendezvous + `', right, left, "${datasets.d}"]
      outputs: {out: out.txt}
  join:
    type: exec
    with:
      inputs: ["${stages.left.outputs.out}", "${stages.right.outputs.out}"]
      argv: [sh, -c, 'cat "$0" "$1" > "$RUNNER_OUT/joined.txt"', "${stages.left.outputs.out}", "${stages.right.outputs.out}"]
      outputs: {joined: joined.txt}
`

func requireCluster(t *testing.T) {
	t.Helper()
	if os.Getenv("NNRUNNER_SLURM") != "1" {
		t.Skip("Slurm integration tests skipped: set NNRUNNER_SLURM=1 with a running cluster (pipeline/slurm/testdata/ci-slurm.sh does both)")
	}
	if out, err := exec.Command("scontrol", "ping").CombinedOutput(); err != nil || !bytes.Contains(out, []byte("UP")) {
		t.Fatalf("NNRUNNER_SLURM=1 but the Slurm controller does not answer: %v\n%s", err, out)
	}
}

var (
	buildOnce sync.Once
	runnerBin string
	buildErr  error
)

// buildRunner builds the runner binary once for all tests of the package.
func buildRunner(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nnrunner-slurm-test-")
		if err != nil {
			buildErr = err
			return
		}
		runnerBin = filepath.Join(dir, "runner")
		if out, err := exec.Command("go", "build", "-o", runnerBin, "../../runner").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build runner: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return runnerBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if runnerBin != "" {
		os.RemoveAll(filepath.Dir(runnerBin))
	}
	os.Exit(code)
}

// project writes the dataset and one workflow file per executor into a
// temp folder; each workflow has its own workspace.
func project(t *testing.T, workflow string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data", "a.txt"), []byte("case a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, ex := range []string{"local", "slurm"} {
		wf := strings.NewReplacer("WORKSPACE", ".ws-"+ex, "EXECUTOR", ex).Replace(workflow)
		if err := os.WriteFile(filepath.Join(dir, ex+".yaml"), []byte(wf), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { cancelJournaled(filepath.Join(dir, ".ws-slurm")) })
	return dir
}

// cancelJournaled cancels every job a failed test left in the journal.
func cancelJournaled(ws string) {
	files, _ := filepath.Glob(filepath.Join(ws, "slurm", "jobs", "*.json"))
	for _, f := range files {
		if e, err := readJournal(f); err == nil && e.JobID != "" {
			_ = exec.Command("scancel", e.JobID).Run()
		}
	}
}

type journalEntry struct {
	JobID   string `json:"job_id"`
	JobName string `json:"job_name"`
	RunID   string `json:"run_id"`
}

func readJournal(path string) (*journalEntry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var e journalEntry
	return &e, json.Unmarshal(data, &e)
}

// runner runs the runner binary in dir and returns its exit status,
// stdout and stderr.
func runner(t *testing.T, bin, dir string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("runner %v: %v\n%s", args, err, stderr.String())
	return 0, "", ""
}

func jobState(t *testing.T, id string) string {
	t.Helper()
	out, err := exec.Command("scontrol", "show", "job", id).Output()
	if err != nil {
		t.Fatalf("scontrol show job %s: %v", id, err)
	}
	for _, f := range strings.Fields(string(out)) {
		if v, ok := strings.CutPrefix(f, "JobState="); ok {
			return v
		}
	}
	return ""
}

// TestApplyOnSlurmEqualsLocal applies the same workflow locally and on
// Slurm, where left and right must run at once (each waits until the other
// has started), and compares the committed records.
func TestApplyOnSlurmEqualsLocal(t *testing.T) {
	requireCluster(t)
	bin := buildRunner(t)
	dir := project(t, parallelWorkflow)
	for _, ex := range []string{"local", "slurm"} {
		code, stdout, stderr := runner(t, bin, dir, "apply", ex+".yaml")
		if code != 0 {
			t.Fatalf("%s apply: exit %d\n%s\n%s", ex, code, stdout, stderr)
		}
	}
	for _, id := range []string{"left", "right", "join"} {
		e, err := readJournal(filepath.Join(dir, ".ws-slurm", "slurm", "jobs", id+".json"))
		if err != nil {
			t.Fatalf("stage %s has no journaled slurm job: %v", id, err)
		}
		if st := jobState(t, e.JobID); st != "COMPLETED" {
			t.Errorf("stage %s: job %s is %s, want COMPLETED", id, e.JobID, st)
		}
		if !strings.Contains(e.JobName, e.RunID) {
			t.Errorf("job name %q does not carry the run id %q", e.JobName, e.RunID)
		}
		local, err := record.Open(workspace.Layout{Root: filepath.Join(dir, ".ws-local")}).Committed(id)
		if err != nil {
			t.Fatal(err)
		}
		remote, err := record.Open(workspace.Layout{Root: filepath.Join(dir, ".ws-slurm")}).Committed(id)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(local.Components, remote.Components); diff != "" {
			t.Errorf("stage %s: key components differ (-local +slurm):\n%s", id, diff)
		}
		if local.Key != remote.Key || local.Tree != remote.Tree {
			t.Errorf("stage %s: key %s tree %s on slurm, %s %s locally", id, remote.Key, remote.Tree, local.Key, local.Tree)
		}
		if diff := cmp.Diff(local.Outputs, remote.Outputs); diff != "" {
			t.Errorf("stage %s: outputs differ (-local +slurm):\n%s", id, diff)
		}
	}
	code, stdout, stderr := runner(t, bin, dir, "plan", "--detailed-exitcode", "slurm.yaml")
	if code != 0 {
		t.Errorf("plan after apply: exit %d, want 0 (nothing to do)\n%s\n%s", code, stdout, stderr)
	}
}

const failingWorkflow = `version: 1
workspace: WORKSPACE
executor: EXECUTOR
slurm: {poll_interval: 300ms}
stages:
  broken:
    type: exec
    with:
      argv: [sh, -c, 'echo "loading the model"; echo "bad input: case_007" >&2; exit 3']
      outputs: {out: out.txt}
`

// TestFailingJobReportsExitCodeAndLog checks that a failed job's exit code
// and the end of its log reach the user.
func TestFailingJobReportsExitCodeAndLog(t *testing.T) {
	requireCluster(t)
	bin := buildRunner(t)
	dir := project(t, failingWorkflow)
	code, stdout, stderr := runner(t, bin, dir, "apply", "slurm.yaml")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"ended FAILED with exit code 3", "bad input: case_007", "loading the model", "1 stage(s) failed: broken"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

const waitingWorkflow = `version: 1
workspace: WORKSPACE
executor: EXECUTOR
slurm: {poll_interval: 300ms}
stages:
  long:
    type: exec
    with:
      argv: [sh, -c, 'i=0; while [ ! -e "$RUNNER_OUT/../../go" ]; do i=$((i+1)); [ $i -gt 1200 ] && exit 9; sleep 0.1; done; echo done > "$RUNNER_OUT/out.txt"']
      outputs: {out: out.txt}
`

// TestRestartReattaches kills the coordinating runner while its job runs
// and checks that the next apply re-attaches to the same job.
func TestRestartReattaches(t *testing.T) {
	requireCluster(t)
	bin := buildRunner(t)
	dir := project(t, waitingWorkflow)
	ws := filepath.Join(dir, ".ws-slurm")
	first := exec.Command(bin, "apply", "slurm.yaml")
	first.Dir = dir
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(ws, "slurm", "jobs", "long.json")
	var e *journalEntry
	deadline := time.Now().Add(time.Minute)
	for e == nil || e.JobID == "" || jobState(t, e.JobID) != "RUNNING" {
		if time.Now().After(deadline) {
			_ = first.Process.Kill()
			t.Fatalf("the job did not start running within a minute (journal %+v)", e)
		}
		time.Sleep(100 * time.Millisecond)
		e, _ = readJournal(journal)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	if st := jobState(t, e.JobID); st != "RUNNING" {
		t.Fatalf("job %s is %s after the runner was killed, want RUNNING", e.JobID, st)
	}
	// Let the job finish once the second runner has re-attached: the go
	// file is written when its log says so.
	var stderr bytes.Buffer
	second := exec.Command(bin, "apply", "slurm.yaml")
	second.Dir = dir
	second.Stderr = &syncWriter{w: &stderr, onLine: func(line string) {
		if strings.Contains(line, "re-attached to the slurm job of an earlier run") {
			_ = os.WriteFile(filepath.Join(ws, "go"), nil, 0o644)
		}
	}}
	if err := second.Run(); err != nil {
		t.Fatalf("second apply: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "job="+e.JobID) {
		t.Errorf("the second apply did not follow job %s:\n%s", e.JobID, stderr.String())
	}
	if strings.Contains(stderr.String(), "submitted slurm job") {
		t.Errorf("the second apply submitted a new job:\n%s", stderr.String())
	}
	again, err := readJournal(journal)
	if err != nil || again.JobID != e.JobID {
		t.Errorf("journal holds job %+v after the restart, want %s", again, e.JobID)
	}
	if code, stdout, _ := runner(t, bin, dir, "plan", "--detailed-exitcode", "slurm.yaml"); code != 0 {
		t.Errorf("plan after the re-attached apply: exit %d\n%s", code, stdout)
	}
}

// TestInterruptCancelsJob interrupts the runner (Ctrl-C) while its job
// runs and checks that the job is cancelled.
func TestInterruptCancelsJob(t *testing.T) {
	requireCluster(t)
	bin := buildRunner(t)
	dir := project(t, waitingWorkflow)
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "apply", "slurm.yaml")
	cmd.Dir, cmd.Stderr = dir, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(dir, ".ws-slurm", "slurm", "jobs", "long.json")
	var e *journalEntry
	deadline := time.Now().Add(time.Minute)
	for e == nil || e.JobID == "" || jobState(t, e.JobID) != "RUNNING" {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("the job did not start running within a minute (journal %+v)", e)
		}
		time.Sleep(100 * time.Millisecond)
		e, _ = readJournal(journal)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("interrupted apply: %v, want exit 130\n%s", err, stderr.String())
	}
	if st := jobState(t, e.JobID); st != "CANCELLED" {
		t.Errorf("job %s is %s after Ctrl-C, want CANCELLED\n%s", e.JobID, st, stderr.String())
	}
}

// syncWriter collects output and calls onLine for every complete line.
type syncWriter struct {
	w       *bytes.Buffer
	partial []byte
	onLine  func(string)
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.w.Write(p)
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		s.onLine(string(s.partial[:i]))
		s.partial = s.partial[i+1:]
	}
	return len(p), nil
}
