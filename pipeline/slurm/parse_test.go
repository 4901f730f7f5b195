package slurm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"
	"github.com/nnrunner/nnrunner/schema"
)

// The files in testdata are outputs of the real Slurm 22.05 tools (Debian
// bookworm), recorded on the single-node cluster of testdata/ci-slurm.sh.

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseSbatch(t *testing.T) {
	tests := []struct {
		name, out, want, err string
	}{
		{"recorded", string(readTestdata(t, "sbatch-parsable.txt")), "1", ""},
		{"with cluster", "42;localci\n", "42", ""},
		{"warning first", "sbatch: warning: something\n7\n", "7", ""},
		{"empty", "", "", "no job id"},
		{"garbage", "Submitted batch job 5\n", "", "want a job id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseSbatch([]byte(tc.out))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestParseSqueue(t *testing.T) {
	got, err := parseSqueue(readTestdata(t, "squeue-mixed.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]QueueEntry{
		"1": {ID: "1", State: "COMPLETED", Reason: "None"},
		"2": {ID: "2", State: "FAILED", Reason: "NonZeroExitCode"},
		"3": {ID: "3", State: "RUNNING", Reason: "None"},
		"4": {ID: "4", State: "PENDING", Reason: "Resources"},
		"5": {ID: "5", State: "PENDING", Reason: "Priority"},
		"6": {ID: "6", State: "PENDING", Reason: "PartitionConfig"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("squeue entries (-want +got):\n%s", diff)
	}
	if _, err := parseSqueue([]byte("12 RUNNING\n")); err == nil {
		t.Error("a line in another format parsed without error")
	}
}

func TestParseScontrolJob(t *testing.T) {
	tests := []struct {
		file      string
		want      JobInfo
		terminal  bool
		succeeded bool
	}{
		{"scontrol-completed.txt", JobInfo{ID: "1", Name: "nnr.rec.ok", State: "COMPLETED", Reason: "None", StdOut: "/tmp/rec/1.out"}, true, true},
		{"scontrol-failed.txt", JobInfo{ID: "2", Name: "nnr.rec.fail", State: "FAILED", Reason: "NonZeroExitCode", ExitCode: 3, StdOut: "/tmp/rec/2.out"}, true, false},
		{"scontrol-running.txt", JobInfo{ID: "3", Name: "nnr.rec.long", State: "RUNNING", Reason: "None", StdOut: "/tmp/rec/3.out"}, false, false},
		{"scontrol-pending.txt", JobInfo{ID: "4", Name: "nnr.rec.pend", State: "PENDING", Reason: "Resources", StdOut: "/tmp/rec/4.out"}, false, false},
		{"scontrol-cancelled-running.txt", JobInfo{ID: "3", Name: "nnr.rec.long", State: "CANCELLED", Reason: "None", Signal: 15, StdOut: "/tmp/rec/3.out"}, true, false},
		{"scontrol-cancelled-pending.txt", JobInfo{ID: "5", Name: "nnr.rec.big", State: "CANCELLED", Reason: "Priority", StdOut: "/tmp/rec/5.out"}, true, false},
		{"scontrol-timeout.txt", JobInfo{ID: "7", Name: "nnr.rec.timeout", State: "TIMEOUT", Reason: "TimeLimit", Signal: 15, StdOut: "/tmp/rec/7.out"}, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			got, err := parseScontrolJob(readTestdata(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, *got); diff != "" {
				t.Errorf("job (-want +got):\n%s", diff)
			}
			if Terminal(got.State) != tc.terminal || got.Succeeded() != tc.succeeded {
				t.Errorf("terminal %v succeeded %v, want %v %v", Terminal(got.State), got.Succeeded(), tc.terminal, tc.succeeded)
			}
		})
	}
}

func TestFindJobComp(t *testing.T) {
	log := readTestdata(t, "jobcomp.log")
	tests := []struct {
		id   string
		want *JobInfo
	}{
		{"2", &JobInfo{ID: "2", Name: "nnr.rec.fail", State: "FAILED", ExitCode: 3}},
		{"1", &JobInfo{ID: "1", Name: "nnr.rec.ok", State: "COMPLETED"}},
		{"7", &JobInfo{ID: "7", Name: "nnr.rec.timeout", State: "TIMEOUT"}},
		{"999", nil},
	}
	for _, tc := range tests {
		got, err := findJobComp(log, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("job %s (-want +got):\n%s", tc.id, diff)
		}
	}
}

// recorded returns a CommandFunc answering each command (name and first
// argument) with a recorded output, or failing with a recorded stderr.
func recorded(t *testing.T, answers map[string]string) CommandFunc {
	return func(_ context.Context, name string, args ...string) ([]byte, error) {
		cmd := name
		if len(args) > 0 {
			cmd += " " + args[0]
		}
		file, ok := answers[cmd]
		if !ok {
			t.Fatalf("unexpected command %s %v", name, args)
		}
		data := readTestdata(t, file)
		if strings.HasSuffix(file, ".stderr") {
			return nil, &CommandError{Command: cmd, Stderr: string(data), Err: errors.New("exit status 1")}
		}
		return data, nil
	}
}

func TestClientErrors(t *testing.T) {
	c := client{run: recorded(t, map[string]string{
		"scontrol show":     "scontrol-invalid-id.stderr",
		"squeue --noheader": "squeue-controller-down.stderr",
		"sbatch --parsable": "sbatch-bad-partition.stderr",
	})}
	ctx := context.Background()
	if _, err := c.show(ctx, "999"); !errors.Is(err, errUnknownJob) {
		t.Errorf("scontrol on a purged job: %v, want errUnknownJob", err)
	}
	if _, err := c.queue(ctx); err == nil || errors.Is(err, errUnknownJob) || !strings.Contains(err.Error(), "Unable to contact slurm controller") {
		t.Errorf("squeue with the controller down: %v", err)
	}
	if _, err := c.submit(ctx, nil, "job.sh"); err == nil || !strings.Contains(err.Error(), "Invalid partition name specified") {
		t.Errorf("sbatch to a bad partition: %v", err)
	}
}

func TestSbatchArgs(t *testing.T) {
	s := &schema.Stage{ID: "train",
		Resources: schema.Resources{CPUs: 4, Memory: 8<<30 + 1, GPUs: 1},
		Slurm:     schema.SlurmOptions{Partition: "gpu", Time: "1-00:00:00", Args: []string{"--account=lab"}}}
	got := sbatchArgs(s, "nnr-R-train", "/ws/slurm/logs/train.%j.out")
	want := []string{"--job-name=nnr-R-train", "--output=/ws/slurm/logs/train.%j.out", "--cpus-per-task=4",
		"--mem=8193M", "--gres=gpu:1", "--time=1-00:00:00", "--partition=gpu", "--account=lab"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sbatch args (-want +got):\n%s", diff)
	}
	got = sbatchArgs(&schema.Stage{ID: "a"}, "n", "o")
	if diff := cmp.Diff([]string{"--job-name=n", "--output=o", "--cpus-per-task=1"}, got); diff != "" {
		t.Errorf("sbatch args of a stage without resources (-want +got):\n%s", diff)
	}
}

func TestPollerBacksOff(t *testing.T) {
	// The controller is down for 5 calls, then lists the watched job done.
	calls := 0
	run := func(_ context.Context, name string, args ...string) ([]byte, error) {
		calls++
		if calls <= 5 {
			return nil, &CommandError{Command: name, Stderr: string(readTestdata(t, "squeue-controller-down.stderr")), Err: errors.New("exit status 1")}
		}
		return readTestdata(t, "squeue-mixed.txt"), nil
	}
	var (
		mu     sync.Mutex
		delays []time.Duration
	)
	p := &poller{client: client{run: run}, log: hclog.NewNullLogger(), interval: time.Second, maxBackoff: 10 * time.Second,
		watchers: map[string]*watcher{},
		after: func(d time.Duration) <-chan time.Time {
			mu.Lock()
			delays = append(delays, d)
			mu.Unlock()
			ch := make(chan time.Time, 1)
			ch <- time.Time{}
			return ch
		}}
	w := p.watch("2")
	<-w.ch
	e, listed, polled := w.state()
	p.unwatch("2")
	if !polled || !listed || e.State != "FAILED" {
		t.Errorf("state %+v listed %v polled %v, want FAILED", e, listed, polled)
	}
	want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	mu.Lock()
	got := append([]time.Duration{}, delays[:len(want)]...)
	mu.Unlock()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delays between squeue calls (-want +got):\n%s", diff)
	}
}

func TestJobErrorCarriesLogTail(t *testing.T) {
	log := filepath.Join(t.TempDir(), "a.out")
	var lines []string
	for i := 0; i < 30; i++ {
		lines = append(lines, "line "+string(rune('a'+i%26)))
	}
	if err := os.WriteFile(log, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	x := &Executor{}
	err := x.result(&JobInfo{ID: "2", State: "FAILED", ExitCode: 3}, &entry{JobID: "2", Output: log})
	var je *JobError
	if !errors.As(err, &je) || je.ExitCode != 3 || len(je.Tail) != tailLines {
		t.Fatalf("error %v, want a JobError with exit code 3 and %d lines", err, tailLines)
	}
	msg := err.Error()
	if !strings.Contains(msg, "slurm job 2 ended FAILED with exit code 3") || !strings.HasSuffix(msg, lines[29]) || strings.Contains(msg, lines[9]+"\n") {
		t.Errorf("message %q lacks the state or the last %d lines", msg, tailLines)
	}
	if err := x.result(&JobInfo{ID: "1", State: "COMPLETED"}, &entry{JobID: "1"}); err != nil {
		t.Errorf("a completed job is an error: %v", err)
	}
}
