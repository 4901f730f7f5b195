package engine

import (
	"fmt"
	"strings"
)

// Exit statuses of the runner's failures.
const (
	// ExitFailure: a stage failed, the workflow is invalid or the
	// workspace could not be used.
	ExitFailure = 1
	// ExitInterrupted: the run was cancelled (Ctrl-C); 128+SIGINT.
	ExitInterrupted = 130
)

// UsageError is a wrong command-line argument.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// ExitCode returns ExitFailure.
func (e *UsageError) ExitCode() int { return ExitFailure }

// InputError is an input path that does not exist.
type InputError struct {
	Stage, Input, Path string
	Err                error
}

func (e *InputError) Error() string {
	return fmt.Sprintf("stage %s: input %s: %s does not exist; create it or fix the path in the workflow", e.Stage, e.Input, e.Path)
}

func (e *InputError) Unwrap() error { return e.Err }

// ExitCode returns ExitFailure.
func (e *InputError) ExitCode() int { return ExitFailure }

// StageError is a stage whose run failed.
type StageError struct {
	Stage    string
	Attempts int
	Err      error
}

func (e *StageError) Error() string {
	return fmt.Sprintf("stage %s failed after %d attempt(s): %v", e.Stage, e.Attempts, e.Err)
}

func (e *StageError) Unwrap() error { return e.Err }

// ExitCode returns ExitFailure.
func (e *StageError) ExitCode() int { return ExitFailure }

// TaintedError is a stage whose inputs changed while it ran; its result
// was discarded.
type TaintedError struct {
	Stage  string
	Inputs []string
}

func (e *TaintedError) Error() string {
	return fmt.Sprintf("stage %s: inputs changed while it ran (%s); its result was not committed, run apply again", e.Stage, strings.Join(e.Inputs, ", "))
}

// ExitCode returns ExitFailure.
func (e *TaintedError) ExitCode() int { return ExitFailure }

// FailedError summarises an apply in which stages failed.
type FailedError struct {
	Failed  []string // stages that failed or were tainted
	Blocked []string // stages not run because something they need failed
}

func (e *FailedError) Error() string {
	msg := fmt.Sprintf("%d stage(s) failed: %s", len(e.Failed), list(e.Failed))
	if len(e.Blocked) > 0 {
		msg += fmt.Sprintf("; not run because of them: %s", list(e.Blocked))
	}
	return msg
}

// list joins ids, eliding all but the first ten.
func list(ids []string) string {
	const show = 10
	if len(ids) <= show {
		return strings.Join(ids, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(ids[:show], ", "), len(ids)-show)
}

// ExitCode returns ExitFailure.
func (e *FailedError) ExitCode() int { return ExitFailure }

// InterruptedError is an apply cancelled before it finished.
type InterruptedError struct {
	Finished []string
	Pending  []string // selected stages that did not finish
}

func (e *InterruptedError) Error() string {
	return fmt.Sprintf("interrupted: %d stage(s) finished and are committed, %d did not finish (%s); nothing half-written was committed",
		len(e.Finished), len(e.Pending), list(e.Pending))
}

// ExitCode returns ExitInterrupted.
func (e *InterruptedError) ExitCode() int { return ExitInterrupted }
