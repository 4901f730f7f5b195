// Package exec implements the `exec` stage type: run a command that writes
// its outputs into $RUNNER_OUT.
//
//	count:
//	  type: exec
//	  with:
//	    inputs: ["${datasets.pretrain}"]        # files/dirs hashed into the key
//	    argv: [sh, -c, 'ls "$0"/imagesTr | wc -l > "$RUNNER_OUT/count.txt"', '${datasets.pretrain}']
//	    outputs: {count: count.txt}             # output name -> path inside the output dir
//	    env: [OMP_NUM_THREADS]                  # allow-listed env vars, part of the key
//
// The command runs in the stage's staging directory with RUNNER_OUT set to
// it and RUNNER_THREADS to the stage's core count. Its environment holds only
// PATH, HOME, TMPDIR, LANG and the allow-listed variables, so nothing outside
// the cache key leaks in. A non-zero exit, or a declared output missing
// afterwards, fails the stage. On cancellation the command's process group
// gets SIGTERM, then SIGKILL after a grace period.
package exec

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nnrunner/nnrunner/pipeline/stage"
)

// Version is the implementation version of the exec stage.
const Version = 1

// killGrace is how long a cancelled command gets between SIGTERM and SIGKILL.
const killGrace = 10 * time.Second

// passEnv are the variables every command inherits; they are not part of the
// cache key.
var passEnv = []string{"PATH", "HOME", "TMPDIR", "LANG"}

// Stage is the exec stage type.
type Stage struct{}

// New returns the exec stage type.
func New() *Stage { return &Stage{} }

// Spec describes the exec stage type.
func (*Stage) Spec() stage.Spec {
	return stage.Spec{
		Type:    "exec",
		Version: Version,
		Doc:     "Run a command (argv, no shell unless you call one) in the stage's staging directory, with RUNNER_OUT set to that directory and RUNNER_THREADS to the stage's cores, and only PATH, HOME, TMPDIR, LANG and the env variables from the environment. It must write every declared output into $RUNNER_OUT; a non-zero exit or a missing output fails the stage.",
		Params: []stage.Param{
			{Name: "argv", Kind: stage.Strings, Required: true, Doc: "command and arguments (no shell unless you call one)"},
			{Name: "outputs", Kind: stage.Object, Required: true, Doc: "output name -> path inside $RUNNER_OUT, e.g. {count: count.txt}"},
			{Name: "inputs", Kind: stage.Paths, Doc: "files and folders whose content is part of the cache key"},
			{Name: "env", Kind: stage.Env, Doc: "environment variables passed to the command; their values are part of the cache key"},
		},
	}
}

// Outputs returns the outputs declared in `outputs`, sorted by name.
func (*Stage) Outputs(with stage.Values) ([]stage.Output, error) {
	m, err := with.Object("outputs")
	if err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, errors.New("exec: `outputs` declares no output; name at least one file or folder the command writes into $RUNNER_OUT")
	}
	out := make([]stage.Output, 0, len(m))
	for name, v := range m {
		p, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("exec: outputs.%s: want a path string, got %T", name, v)
		}
		out = append(out, stage.Output{Name: name, Path: p})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Run runs the command in req.OutDir.
func (s *Stage) Run(ctx context.Context, req *stage.Request) error {
	argv, err := req.With.Strings("argv")
	if err != nil {
		return err
	}
	if len(argv) == 0 {
		return errors.New("exec: argv is empty")
	}
	var allow []string
	if req.With.Has("env") {
		if allow, err = req.With.Strings("env"); err != nil {
			return err
		}
	}
	outs, err := s.Outputs(req.With)
	if err != nil {
		return err
	}

	cmd := osexec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = req.OutDir
	cmd.Env = commandEnv(allow, req)
	// Own process group, so cancellation reaches a shell's children; and
	// if the runner is killed outright, the command dies with it rather
	// than writing into a staging dir the next apply removes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error {
		// Signal the whole process group: a shell's children stop too.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	}
	cmd.WaitDelay = killGrace
	stdout, stderr := lineLogger(req.Log, "stdout"), lineLogger(req.Log, "stderr")
	cmd.Stdout, cmd.Stderr = stdout, stderr
	req.Log.Debug("exec", "argv", argv)
	runErr := cmd.Run()
	stdout.Close()
	stderr.Close()
	if runErr != nil {
		if cmd.Process != nil {
			// Leave no orphaned grandchildren behind.
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("exec %s: %w", argv[0], ctx.Err())
		}
		return fmt.Errorf("exec %s: %w", argv[0], runErr)
	}
	for _, o := range outs {
		if _, err := os.Lstat(filepath.Join(req.OutDir, filepath.FromSlash(o.Path))); err != nil {
			return fmt.Errorf("exec %s: declared output %s (%s) is missing after the command exited 0; write it to \"$RUNNER_OUT/%s\"", argv[0], o.Name, o.Path, o.Path)
		}
	}
	return nil
}

func commandEnv(allow []string, req *stage.Request) []string {
	var env []string
	for _, k := range append(append([]string{}, passEnv...), allow...) {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return append(env, "RUNNER_OUT="+req.OutDir, "RUNNER_THREADS="+strconv.Itoa(req.Threads))
}

// lineWriter logs every line written to it.
type lineWriter struct {
	pw   *io.PipeWriter
	done sync.WaitGroup
}

func lineLogger(log hclog.Logger, stream string) *lineWriter {
	pr, pw := io.Pipe()
	w := &lineWriter{pw: pw}
	w.done.Add(1)
	go func() {
		defer w.done.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			log.Info(sc.Text(), "stream", stream)
		}
		// Drain whatever follows an over-long line so the writer never blocks.
		_, _ = io.Copy(io.Discard, pr)
	}()
	return w
}

func (w *lineWriter) Write(p []byte) (int, error) { return w.pw.Write(p) }

// Close flushes the last line and waits until it is logged.
func (w *lineWriter) Close() {
	w.pw.Close()
	w.done.Wait()
}
