// Command runner runs a declarative nnU-Net experiment workflow: it
// computes only what changed, restores what was computed before, and says
// why it does what it does.
//
//	runner apply FILE [--target ID]... [--force ID]... [--set K=V]... [--jobs N] [--no-wait]
//	runner plan FILE [--target ID]... [--force ID]... [--set K=V]... [--json] [--explain] [--detailed-exitcode]
//	runner status FILE [--set K=V]...
//	runner graph FILE [--format mermaid|dot]
//	runner output FILE ID.NAME [--set K=V]...
//	runner gc FILE [--keep-last N] [--max-size SIZE] [--set K=V]... [--no-wait]
//	runner schema [--format json|markdown]
//	runner version
//
// Every command accepts --log-format human|json and --log-level.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"github.com/nnrunner/nnrunner/pipeline/slurm"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		// A second Ctrl-C kills the process at once; the workspace stays
		// consistent either way.
		stop()
	}()
	err := dispatch(ctx, args, stdout, stderr)
	if err == nil {
		return 0
	}
	var pending *pendingChanges
	if errors.As(err, &pending) {
		return 2
	}
	fmt.Fprintln(stderr, "Error:", err)
	var coded interface{ ExitCode() int }
	if errors.As(err, &coded) {
		return coded.ExitCode()
	}
	if errors.Is(err, context.Canceled) {
		return 130
	}
	return 1
}

// pendingChanges makes `plan --detailed-exitcode` exit 2.
type pendingChanges struct{}

func (*pendingChanges) Error() string { return "changes pending" }

// usageError is a malformed command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg + "\n\n" + usage }

// ExitCode returns 1.
func (e *usageError) ExitCode() int { return 1 }

const usage = `Usage:
  runner apply FILE [--target ID]... [--force ID]... [--set K=V]... [--jobs N] [--no-wait]
  runner plan FILE [--target ID]... [--force ID]... [--set K=V]... [--json] [--explain] [--detailed-exitcode]
  runner status FILE [--set K=V]...
  runner graph FILE [--format mermaid|dot]
  runner output FILE ID.NAME [--set K=V]...
  runner gc FILE [--keep-last N] [--max-size SIZE] [--set K=V]... [--no-wait]
  runner schema [--format json|markdown]
  runner version
Every command accepts --log-format human|json (default human) and --log-level (default info).`

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &usageError{msg: "no command"}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "apply":
		return cmdApply(ctx, rest, stdout, stderr)
	case "plan":
		return cmdPlan(ctx, rest, stdout, stderr)
	case "status":
		return cmdStatus(ctx, rest, stdout, stderr)
	case "graph":
		return cmdGraph(rest, stdout, stderr)
	case "output":
		return cmdOutput(ctx, rest, stdout, stderr)
	case "gc":
		return cmdGC(ctx, rest, stdout, stderr)
	case "schema":
		return cmdSchema(rest, stdout, stderr)
	case "version":
		return cmdVersion(rest, stdout, stderr)
	case slurm.WorkerCommand:
		return cmdSlurmWorker(ctx, rest, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return &usageError{msg: fmt.Sprintf("unknown command %q", cmd)}
}

// newLogger returns the runner's logger.
func newLogger(w io.Writer, format, level string) (hclog.Logger, error) {
	if format != "human" && format != "json" {
		return nil, &usageError{msg: fmt.Sprintf("--log-format %q: use human or json", format)}
	}
	lvl := hclog.LevelFromString(level)
	if lvl == hclog.NoLevel {
		return nil, &usageError{msg: fmt.Sprintf("--log-level %q: use trace, debug, info, warn or error", level)}
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       "runner",
		Output:     w,
		Level:      lvl,
		JSONFormat: format == "json",
	}), nil
}
