package schema

import (
	"fmt"
	"strings"
)

// Error is one problem in a workflow file, at a position when known.
type Error struct {
	File string
	Pos  Pos // zero when the problem has no single position
	Msg  string
}

func (e *Error) Error() string {
	if e.Pos.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Pos.Line, e.Pos.Col, e.Msg)
}

// ExitCode is the process exit status for an invalid workflow.
func (e *Error) ExitCode() int { return 1 }

// Errors is every problem found in a workflow file, in file order.
type Errors []*Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// ExitCode is the process exit status for an invalid workflow.
func (es Errors) ExitCode() int { return 1 }

// errorList collects errors for one file.
type errorList struct {
	file string
	errs Errors
}

func (l *errorList) add(p Pos, format string, args ...any) {
	l.errs = append(l.errs, &Error{File: l.file, Pos: p, Msg: fmt.Sprintf(format, args...)})
}

func (l *errorList) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	return l.errs
}
