package slurm

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"
	"github.com/nnrunner/nnrunner/pipeline/cachekey"
	"github.com/nnrunner/nnrunner/pipeline/engine"
	"github.com/nnrunner/nnrunner/pipeline/hashing"
	"github.com/nnrunner/nnrunner/schema"
)

// fakeCluster answers sbatch, squeue, scontrol and scancel like a Slurm
// controller whose jobs finish with the given state after being listed
// as RUNNING a few times.
type fakeCluster struct {
	mu       sync.Mutex
	next     int
	jobs     map[string]*fakeJob
	commands []string // sbatch and scancel calls
	// runFor is how many polls a submitted job is listed RUNNING.
	runFor int
}

type fakeJob struct {
	name, state string
	polls       int // RUNNING polls left before it ends
	end         string
	exit        int
}

func (c *fakeCluster) add(name, state, end string, polls int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	id := fmt.Sprint(c.next)
	c.jobs[id] = &fakeJob{name: name, state: state, polls: polls, end: end}
	return id
}

func (c *fakeCluster) run(_ context.Context, name string, args ...string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch name {
	case "sbatch":
		c.commands = append(c.commands, "sbatch")
		c.next++
		id := fmt.Sprint(c.next)
		job := &fakeJob{state: "RUNNING", polls: c.runFor, end: "COMPLETED"}
		for _, a := range args {
			if v, ok := strings.CutPrefix(a, "--job-name="); ok {
				job.name = v
			}
		}
		c.jobs[id] = job
		return []byte(id + "\n"), nil
	case "squeue":
		var b strings.Builder
		for id, j := range c.jobs {
			if nameArg := argValue(args, "--name="); nameArg != "" && j.name != nameArg {
				continue
			}
			if j.state == "RUNNING" && argValue(args, "--name=") == "" {
				if j.polls == 0 {
					j.state = j.end
					if j.end != "COMPLETED" {
						j.exit = 1
					}
				}
				j.polls--
			}
			fmt.Fprintf(&b, "%s|%s|None\n", id, j.state)
		}
		return []byte(b.String()), nil
	case "scontrol":
		j := c.jobs[args[2]]
		return []byte(fmt.Sprintf("JobId=%s JobName=%s\n   JobState=%s Reason=None Dependency=(null)\n   ExitCode=%d:0\n", args[2], j.name, j.state, j.exit)), nil
	case "scancel":
		c.commands = append(c.commands, "scancel "+strings.Join(args, " "))
		for _, id := range args {
			c.jobs[id].state = "CANCELLED"
		}
		return nil, nil
	}
	return nil, fmt.Errorf("unexpected command %s", name)
}

func argValue(args []string, prefix string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, prefix); ok {
			return v
		}
	}
	return ""
}

func TestRunJournalDecisions(t *testing.T) {
	key := hashing.Sum([]byte("key"))
	const thisRun = "this-run"
	other := hashing.Sum([]byte("other"))
	tests := []struct {
		name string
		// prepare journals an earlier job (using the cluster) and may fill
		// the staging dir.
		prepare func(c *fakeCluster, j journal, dir string)
		want    []string // sbatch and scancel calls
		wantErr string
		// notLogged must not be in the stage log.
		notLogged string
	}{
		{"fresh submit", func(*fakeCluster, journal, string) {}, []string{"sbatch"}, "", ""},
		{"re-attach to a running job", func(c *fakeCluster, j journal, dir string) {
			id := c.add("nnr-old-s", "RUNNING", "COMPLETED", 2)
			j.save(&entry{Stage: "s", Key: key.String(), RunID: "old", JobName: "nnr-old-s", JobID: id, Dir: dir})
		}, nil, "", ""},
		{"re-attached job fails", func(c *fakeCluster, j journal, dir string) {
			id := c.add("nnr-old-s", "RUNNING", "FAILED", 1)
			j.save(&entry{Stage: "s", Key: key.String(), RunID: "old", JobName: "nnr-old-s", JobID: id, Dir: dir})
		}, nil, "ended FAILED with exit code 1", ""},
		{"adopt a job submitted before its id was journaled", func(c *fakeCluster, j journal, dir string) {
			c.add("nnr-old-s", "RUNNING", "COMPLETED", 1)
			j.save(&entry{Stage: "s", Key: key.String(), RunID: "old", JobName: "nnr-old-s", Dir: dir})
		}, nil, "", ""},
		{"finished while nobody watched", func(c *fakeCluster, j journal, dir string) {
			id := c.add("nnr-old-s", "COMPLETED", "", 0)
			j.save(&entry{Stage: "s", Key: key.String(), RunID: "old", JobName: "nnr-old-s", JobID: id, Dir: dir})
			os.WriteFile(filepath.Join(dir, "out.txt"), []byte("x"), 0o644)
		}, nil, "", ""},
		{"failed while nobody watched", func(c *fakeCluster, j journal, dir string) {
			id := c.add("nnr-old-s", "FAILED", "", 0)
			j.save(&entry{Stage: "s", Key: key.String(), RunID: "old", JobName: "nnr-old-s", JobID: id, Dir: dir})
		}, []string{"sbatch"}, "", ""},
		{"a retry of this run's failed attempt", func(c *fakeCluster, j journal, dir string) {
			id := c.add("nnr-this-s", "FAILED", "", 0)
			j.save(&entry{Stage: "s", Key: key.String(), RunID: thisRun, JobName: "nnr-this-s", JobID: id, Dir: dir})
		}, []string{"sbatch"}, "", "did not leave a result"},
		{"outdated key is cancelled", func(c *fakeCluster, j journal, dir string) {
			id := c.add("nnr-old-s", "RUNNING", "COMPLETED", 100)
			j.save(&entry{Stage: "s", Key: other.String(), RunID: "old", JobName: "nnr-old-s", JobID: id, Dir: dir})
		}, []string{"scancel 1", "sbatch"}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws := t.TempDir()
			c := &fakeCluster{jobs: map[string]*fakeJob{}, runFor: 1}
			x, err := New(Config{Workflow: &schema.Workflow{File: filepath.Join(ws, "wf.yaml"), Workspace: ws},
				Runner: "/bin/runner", Command: c.run, PollInterval: time.Millisecond, Log: hclog.NewNullLogger()})
			if err != nil {
				t.Fatal(err)
			}
			x.runID = thisRun
			dir := filepath.Join(ws, "staging", "s.resume")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			tc.prepare(c, x.journal, dir)
			var logged strings.Builder
			job := &engine.Job{Stage: &schema.Stage{ID: "s"}, Key: key, Components: &cachekey.Components{}, Dir: dir,
				Attempt: 1, Log: hclog.New(&hclog.LoggerOptions{Output: &logged}), Output: io.Discard}
			err = x.Run(context.Background(), job)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Run: %v, want error %q", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, c.commands); diff != "" {
				t.Errorf("sbatch/scancel calls (-want +got):\n%s", diff)
			}
			if tc.notLogged != "" && strings.Contains(logged.String(), tc.notLogged) {
				t.Errorf("the stage log says %q:\n%s", tc.notLogged, logged.String())
			}
			e, err := x.journal.load("s")
			if err != nil || e == nil || e.Key != key.String() || e.JobID == "" {
				t.Errorf("journal after Run: %+v, %v", e, err)
			}
		})
	}
}

func TestRunCancels(t *testing.T) {
	ws := t.TempDir()
	c := &fakeCluster{jobs: map[string]*fakeJob{}, runFor: 1 << 30}
	x, err := New(Config{Workflow: &schema.Workflow{File: filepath.Join(ws, "wf.yaml"), Workspace: ws},
		Runner: "/bin/runner", Command: c.run, PollInterval: time.Millisecond, Log: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Ctrl-C arrives once the stage log says the job runs.
	log := hclog.New(&hclog.LoggerOptions{Output: writerFunc(func(p []byte) {
		if strings.Contains(string(p), "slurm job running") {
			cancel()
		}
	})})
	job := &engine.Job{Stage: &schema.Stage{ID: "s"}, Key: hashing.Sum([]byte("k")), Components: &cachekey.Components{},
		Dir: filepath.Join(ws, "staging", "s.resume"), Attempt: 1, Log: log, Output: io.Discard}
	err = x.Run(ctx, job)
	if err == nil || !strings.Contains(err.Error(), "cancelled") || ctx.Err() == nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	if diff := cmp.Diff([]string{"sbatch", "scancel 1"}, c.commands); diff != "" {
		t.Errorf("sbatch/scancel calls (-want +got):\n%s", diff)
	}
}

type writerFunc func(p []byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }
