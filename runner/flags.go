package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

// Set appends v (comma-separated values are split).
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// setFlag is the repeatable --set KEY=VALUE flag. Its value is never split
// on commas: it may be a YAML flow mapping or list such as
// 'params.overrides={features_base: 16, features_max: 128}'.
type setFlag []string

func (s *setFlag) String() string { return strings.Join(*s, " ") }

// Set appends one KEY=VALUE override.
func (s *setFlag) Set(v string) error {
	*s = append(*s, v)
	return nil
}

// common holds the flags every command accepts.
type common struct {
	logFormat string
	logLevel  string
}

func newFlagSet(name string, stderr io.Writer) (*flag.FlagSet, *common) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &common{}
	fs.StringVar(&c.logFormat, "log-format", "human", "log format: human or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: trace, debug, info, warn, error")
	return fs, c
}

// parse parses args allowing flags before and after positional arguments,
// and checks the number of positional arguments.
func parse(fs *flag.FlagSet, args []string, positional ...string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, &usageError{msg: err.Error()}
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != len(positional) {
		return nil, &usageError{msg: fmt.Sprintf("%s wants %d argument(s) (%s), got %d", fs.Name(), len(positional), strings.Join(positional, " "), len(pos))}
	}
	return pos, nil
}
