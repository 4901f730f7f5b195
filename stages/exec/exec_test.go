package exec

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
	"github.com/nnrunner/nnrunner/pipeline/stage"
)

// logSink collects log lines.
type logSink struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRun(t *testing.T) {
	t.Setenv("RUNNER_EXEC_ALLOWED", "yes")
	t.Setenv("RUNNER_EXEC_SECRET", "leak")
	tests := []struct {
		name    string
		argv    []any
		outputs map[string]any
		env     []any
		wantErr string
		files   map[string]string // expected files in OutDir
		log     string            // substring of the log
	}{
		{name: "writes its output",
			argv:    []any{"sh", "-c", `echo "$RUNNER_THREADS $0" > "$RUNNER_OUT/a.txt"`, "arg"},
			outputs: map[string]any{"a": "a.txt"}, files: map[string]string{"a.txt": "3 arg\n"}},
		{name: "runs in the staging dir",
			argv:    []any{"sh", "-c", `mkdir sub && pwd > sub/where`},
			outputs: map[string]any{"sub": "sub"}, files: map[string]string{"sub/where": "OUT\n"}},
		{name: "environment is the allow-list only",
			argv:    []any{"sh", "-c", `echo "${RUNNER_EXEC_ALLOWED:-unset} ${RUNNER_EXEC_SECRET:-unset}" > e`},
			outputs: map[string]any{"e": "e"}, env: []any{"RUNNER_EXEC_ALLOWED"}, files: map[string]string{"e": "yes unset\n"}},
		{name: "stdout and stderr are logged",
			argv:    []any{"sh", "-c", `echo to-out; echo to-err >&2; touch x`},
			outputs: map[string]any{"x": "x"}, log: "to-err"},
		{name: "non-zero exit fails",
			argv: []any{"sh", "-c", "exit 3"}, outputs: map[string]any{"x": "x"}, wantErr: "exit status 3"},
		{name: "missing output fails",
			argv: []any{"true"}, outputs: map[string]any{"x": "x.txt"}, wantErr: `declared output x (x.txt) is missing`},
		{name: "unknown command fails",
			argv: []any{"/nonexistent/cmd"}, outputs: map[string]any{"x": "x"}, wantErr: "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			sink := &logSink{}
			with := stage.Values{"argv": tc.argv, "outputs": tc.outputs}
			if tc.env != nil {
				with["env"] = tc.env
			}
			err := New().Run(context.Background(), &stage.Request{
				With: with, OutDir: out, Threads: 3,
				Log: hclog.New(&hclog.LoggerOptions{Output: sink}),
			})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for rel, want := range tc.files {
				data, err := os.ReadFile(filepath.Join(out, rel))
				if err != nil {
					t.Fatal(err)
				}
				want = strings.ReplaceAll(want, "OUT", out)
				if string(data) != want {
					t.Errorf("%s = %q, want %q", rel, data, want)
				}
			}
			if !strings.Contains(sink.String(), tc.log) {
				t.Errorf("log lacks %q:\n%s", tc.log, sink.String())
			}
		})
	}
}

func TestOutputs(t *testing.T) {
	outs, err := New().Outputs(stage.Values{"outputs": map[string]any{"b": "dir", "a": "x/a.txt"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []stage.Output{{Name: "a", Path: "x/a.txt"}, {Name: "b", Path: "dir"}}
	if diff := cmp.Diff(want, outs); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := New().Outputs(stage.Values{"outputs": map[string]any{}}); err == nil {
		t.Error("no outputs accepted")
	}
	if _, err := New().Outputs(stage.Values{"outputs": map[string]any{"a": 1}}); err == nil {
		t.Error("non-string output path accepted")
	}
}

func TestCancelKillsProcessGroup(t *testing.T) {
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	sink := &notifySink{started: started, marker: "child-started"}
	done := make(chan error)
	go func() {
		done <- New().Run(ctx, &stage.Request{
			With: stage.Values{
				// The shell's child must die too: a leftover sleep would
				// keep writing after the runner gave up on the stage.
				"argv":    []any{"sh", "-c", `sleep 60 & echo $! > "$RUNNER_OUT/pid"; echo child-started; wait`},
				"outputs": map[string]any{"pid": "pid"},
			},
			OutDir: out, Threads: 1, Log: hclog.New(&hclog.LoggerOptions{Output: sink}),
		})
	}()
	<-started
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	pid, err := os.ReadFile(filepath.Join(out, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	// Run has signalled the whole group; the kernel delivers SIGKILL
	// asynchronously, so give the child a moment to disappear (or become a
	// zombie for init to reap).
	statusPath := "/proc/" + strings.TrimSpace(string(pid)) + "/status"
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, err := os.ReadFile(statusPath)
		if err != nil || strings.Contains(string(status), "State:\tZ") || strings.Contains(string(status), "State:\tX") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the command's child survived the cancel:\n%s", status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// notifySink closes started when a line containing marker is written.
type notifySink struct {
	once    sync.Once
	started chan struct{}
	marker  string
}

func (s *notifySink) Write(p []byte) (int, error) {
	if strings.Contains(string(p), s.marker) {
		s.once.Do(func() { close(s.started) })
	}
	return len(p), nil
}
