package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nnrunner/nnrunner/pipeline/workspace"
)

// The tests run the runner as a subprocess: the test binary re-executes
// itself with RUNNER_TEST_MAIN=1 and behaves exactly like the runner
// binary (same main code path), so no separate build is needed.
func TestMain(m *testing.M) {
	if os.Getenv("RUNNER_TEST_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// runner returns a command running the runner with args.
func runner(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "RUNNER_TEST_MAIN=1")
	return cmd
}

// runOK runs the runner to completion and returns its exit status, stdout
// and stderr.
func runStatus(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := runner(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("runner %v: %v", args, err)
	return 0, "", ""
}

// crashWorkflow generates files, counts and checksums them, and joins the
// results; every stage re-runs when params.salt changes.
const crashWorkflow = `version: 1
params: {salt: 0}
stages:
  gen:
    type: exec
    with:
      argv:
        - sh
        - -c
        - |
          mkdir "$RUNNER_OUT/data"
          k=1
          while [ $k -le 12 ]; do
            seq 1 $((k * 50 + $0)) > "$RUNNER_OUT/data/file_$k.txt"
            k=$((k + 1))
          done
        - "${params.salt}"
      outputs: {data: data}
  count:
    type: exec
    with:
      argv: [sh, -c, 'cat "$0"/*.txt | wc -l | tr -d " " > "$RUNNER_OUT/n.txt"', "${stages.gen.outputs.data}"]
      outputs: {n: n.txt}
  sums:
    type: exec
    with:
      argv: [sh, -c, 'cd "$0" && cksum *.txt > "$RUNNER_OUT/sums.txt"', "${stages.gen.outputs.data}"]
      outputs: {sums: sums.txt}
  final:
    type: exec
    with:
      argv: [sh, -c, 'cat "$0" "$1" > "$RUNNER_OUT/final.txt"', "${stages.count.outputs.n}", "${stages.sums.outputs.sums}"]
      outputs: {final: final.txt}
`

func writeWorkflow(t *testing.T, content string) (dir, file string) {
	t.Helper()
	dir = t.TempDir()
	file = filepath.Join(dir, "wf.yaml")
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, file
}

// checkCrashOutputs asserts that every committed output of crashWorkflow is
// complete and consistent with salt.
func checkCrashOutputs(t *testing.T, dir string, salt int) {
	t.Helper()
	out := filepath.Join(dir, ".runner", "out")
	total := 0
	for k := 1; k <= 12; k++ {
		n := k*50 + salt
		total += n
		data, err := os.ReadFile(filepath.Join(out, "gen", "data", fmt.Sprintf("file_%d.txt", k)))
		if err != nil {
			t.Fatalf("salt %d: %v", salt, err)
		}
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		if len(lines) != n || lines[n-1] != strconv.Itoa(n) {
			t.Fatalf("salt %d: file_%d.txt incomplete: %d lines", salt, k, len(lines))
		}
	}
	entries, _ := os.ReadDir(filepath.Join(out, "gen", "data"))
	if len(entries) != 12 {
		t.Fatalf("salt %d: %d generated files, want 12", salt, len(entries))
	}
	n, err := os.ReadFile(filepath.Join(out, "count", "n.txt"))
	if err != nil || strings.TrimSpace(string(n)) != strconv.Itoa(total) {
		t.Fatalf("salt %d: count = %q (%v), want %d", salt, n, err, total)
	}
	sums, err := os.ReadFile(filepath.Join(out, "sums", "sums.txt"))
	if err != nil || strings.Count(string(sums), "\n") != 12 {
		t.Fatalf("salt %d: sums.txt incomplete: %q", salt, sums)
	}
	final, err := os.ReadFile(filepath.Join(out, "final", "final.txt"))
	if err != nil || string(final) != string(n)+string(sums) {
		t.Fatalf("salt %d: final.txt is not count+sums", salt)
	}
}

// startApply starts `runner apply` and returns once it has taken the
// workspace lock and logged its first decision; wait waits for the process
// and returns how long it ran after that point and how it ended.
func startApply(t *testing.T, args ...string) (cmd *exec.Cmd, wait func() (time.Duration, *os.ProcessState)) {
	t.Helper()
	cmd = runner(append([]string{"apply"}, args...)...)
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if line := sc.Text(); strings.Contains(line, "runner: RUN") || strings.Contains(line, "runner: SKIP") || strings.Contains(line, "runner: RESTORE") {
			break
		}
	}
	started := time.Now()
	drained := make(chan struct{})
	go func() {
		io.Copy(io.Discard, pr)
		close(drained)
	}()
	return cmd, func() (time.Duration, *os.ProcessState) {
		cmd.Wait()
		pw.Close()
		<-drained
		return time.Since(started), cmd.ProcessState
	}
}

// TestCrashSafety SIGKILLs `runner apply` at random moments of its work and
// checks that the next apply always finishes with complete outputs and that
// nothing a killed run left is accepted.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs the runner ~70 times")
	}
	dir, file := writeWorkflow(t, crashWorkflow)
	// One uninterrupted apply tells how long the work takes on this machine.
	_, wait := startApply(t, file, "--set", "params.salt=1000")
	span, _ := wait()
	checkCrashOutputs(t, dir, 1000)
	rng := rand.New(rand.NewPCG(2, 26))
	const wantKills, maxRounds = 24, 200
	kills := 0
	for round := 0; kills < wantKills && round < maxRounds; round++ {
		// A new salt makes every stage run; kills land in runs, hashing,
		// store ingestion, renames and record writes alike, and recovery
		// applies restore what a killed run had already indexed.
		salt := round
		delay := time.Duration(rng.Float64() * float64(span))
		cmd, wait := startApply(t, file, "--set", "params.salt="+strconv.Itoa(salt))
		timer := time.AfterFunc(delay, func() { cmd.Process.Signal(syscall.SIGKILL) })
		took, state := wait()
		timer.Stop()
		ws, _ := state.Sys().(syscall.WaitStatus)
		killed := ws.Signaled() && ws.Signal() == syscall.SIGKILL
		if killed {
			kills++
		} else {
			// It finished first: aim within the span of the latest full
			// run, as run times drift with the machine's load.
			span = took
		}
		// Killed while holding the lock (not after releasing it, just
		// before exiting): the recovery apply must say it takes over.
		lockText, _ := os.ReadFile(filepath.Join(dir, ".runner", "lock"))
		heldAtKill := killed && strings.Contains(string(lockText), `"released":false`)
		code, _, stderr := runStatus(t, "apply", file, "--set", "params.salt="+strconv.Itoa(salt))
		if code != 0 {
			t.Fatalf("round %d (kill after %v): recovery apply exit %d\n%s", round, delay, code, stderr)
		}
		if heldAtKill && !strings.Contains(stderr, "taking over the workspace lock") {
			t.Errorf("round %d: the recovery apply did not note the dead lock holder:\n%s", round, stderr)
		}
		checkCrashOutputs(t, dir, salt)
		code, stdout, stderr := runStatus(t, "plan", file, "--set", "params.salt="+strconv.Itoa(salt), "--detailed-exitcode")
		if code != 0 {
			t.Fatalf("round %d: plan after recovery exit %d, want 0 (nothing to do)\n%s%s", round, code, stdout, stderr)
		}
	}
	t.Logf("%d applies killed mid-run (a full apply works for %v)", kills, span)
	if kills < wantKills {
		t.Errorf("only %d applies were killed mid-run, want %d", kills, wantKills)
	}
}

func TestConcurrentApplies(t *testing.T) {
	dir, file := writeWorkflow(t, crashWorkflow)
	a, b := runner("apply", file), runner("apply", file)
	var errA, errB bytes.Buffer
	a.Stderr, b.Stderr = &errA, &errB
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	if err := a.Wait(); err != nil {
		t.Errorf("apply A: %v\n%s", err, errA.String())
	}
	if err := b.Wait(); err != nil {
		t.Errorf("apply B: %v\n%s", err, errB.String())
	}
	checkCrashOutputs(t, dir, 0)
	if code, stdout, _ := runStatus(t, "plan", file, "--detailed-exitcode"); code != 0 {
		t.Errorf("plan after concurrent applies: exit %d\n%s", code, stdout)
	}
}

func TestLockWaitAndNoWait(t *testing.T) {
	dir, file := writeWorkflow(t, crashWorkflow)
	lock, err := workspace.AcquireLock(context.Background(), workspace.Layout{Root: filepath.Join(dir, ".runner")}, "test", true, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runStatus(t, "apply", file, "--no-wait")
	if code != 1 || !strings.Contains(stderr, "is locked by pid") {
		t.Fatalf("--no-wait: exit %d\n%s", code, stderr)
	}
	cmd := runner("apply", file)
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(pr)
	for sc.Scan() && !strings.Contains(sc.Text(), "waiting for the workspace lock") {
	}
	go io.Copy(io.Discard, pr)
	if err := lock.Release(); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	pw.Close()
	if err != nil {
		t.Fatalf("waiting apply: %v", err)
	}
	checkCrashOutputs(t, dir, 0)
}

func TestInterrupt(t *testing.T) {
	dir, file := writeWorkflow(t, `version: 1
stages:
  quick:
    type: exec
    with: {argv: [sh, -c, 'echo ok > "$RUNNER_OUT/ok"'], outputs: {ok: ok}}
  slow:
    type: exec
    needs: [quick]
    with: {argv: [sh, -c, 'echo slow-started; exec sleep 60'], outputs: {never: never.txt}}
  after:
    type: exec
    with: {argv: [sh, -c, 'cat "$0" > "$RUNNER_OUT/x"', "${stages.slow.outputs.never}"], outputs: {x: x}}
`)
	cmd := runner("apply", file)
	pr, pw := io.Pipe()
	var stdout bytes.Buffer
	cmd.Stderr, cmd.Stdout = pw, &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "slow-started") {
			break
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
		}
		close(done)
	}()
	err := cmd.Wait()
	pw.Close()
	<-done
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("exit = %v, want 130\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "interrupted: 1 stage(s) finished") {
		t.Errorf("no summary of what finished:\n%s", log.String())
	}
	for _, want := range []string{"quick  ", "slow  ", "after  "} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("final table lacks %q:\n%s", want, stdout.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".runner", "state", "slow.json")); err == nil {
		t.Error("interrupted stage was committed")
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, ".runner", "staging")); len(entries) != 0 {
		t.Errorf("staging left behind: %v", entries)
	}
	if code, out, _ := runStatus(t, "output", file, "quick.ok"); code != 0 || strings.TrimSpace(out) != filepath.Join(dir, ".runner", "out", "quick", "ok") {
		t.Errorf("output quick.ok: exit %d %q", code, out)
	}
	if code, _, _ := runStatus(t, "output", file, "slow.never"); code != 1 {
		t.Errorf("output of an uncommitted stage: exit %d, want 1", code)
	}
}

func TestCommands(t *testing.T) {
	_, file := writeWorkflow(t, crashWorkflow)
	tests := []struct {
		args []string
		code int
		out  string // substring of stdout
		err  string // substring of stderr
	}{
		{[]string{"version"}, 0, "cache key schema 1", ""},
		{[]string{"schema"}, 0, `"$schema": "https://json-schema.org/draft/2020-12/schema"`, ""},
		{[]string{"schema", "--format", "markdown"}, 0, "#### `exec`", ""},
		{[]string{"schema", "--format", "yaml"}, 1, "", "use json or markdown"},
		{[]string{"graph", file}, 0, "gen --> count", ""},
		{[]string{"graph", file, "--format", "dot"}, 0, `"count" -> "final";`, ""},
		{[]string{"graph", file, "--format", "png"}, 1, "", "use mermaid or dot"},
		{[]string{"plan", file, "--detailed-exitcode"}, 2, "RUN      gen: never run", ""},
		{[]string{"plan", file, "--json"}, 0, `"decision": "RUN"`, ""},
		{[]string{"apply", file, "--log-format", "json"}, 0, `"status": "done"`, `"@message":"RUN"`},
		{[]string{"plan", file, "--detailed-exitcode"}, 0, "Plan: 0 to run, 0 to restore, 4 up to date.", ""},
		{[]string{"plan", file, "--set", "params.salt=3", "--explain"}, 0, `param argv[3]: "0" -> "3"`, ""},
		{[]string{"plan", file, "--set", "params.salt=3,4", "--explain"}, 0, `param argv[3]: "0" -> "3,4"`, ""},
		{[]string{"status", file}, 0, "up to date", ""},
		{[]string{"output", file, "final.final"}, 0, "out/final/final.txt", ""},
		{[]string{"output", file, "--set", "params.salt=0", "final.final"}, 0, "out/final/final.txt", ""},
		{[]string{"output", file, "final.nope"}, 1, "", "no committed output"},
		{[]string{"output", file, "--set", "params.salt=3", "final.final"}, 1, "", "is from other inputs or settings than these"},
		{[]string{"apply", file, "--target", "nope"}, 1, "", `no stage "nope"`},
		{[]string{"gc", file, "--keep-last", "0"}, 0, "", "gc finished"},
		{[]string{"apply"}, 1, "", "apply wants 1 argument"},
		{[]string{"frobnicate"}, 1, "", `unknown command "frobnicate"`},
		{[]string{"plan", filepath.Join(filepath.Dir(file), "missing.yaml")}, 1, "", "read workflow"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runStatus(t, tc.args...)
			if code != tc.code || !strings.Contains(stdout, tc.out) || !strings.Contains(stderr, tc.err) {
				t.Errorf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s\nwant stdout ~ %q, stderr ~ %q", code, tc.code, stdout, stderr, tc.out, tc.err)
			}
		})
	}
}
