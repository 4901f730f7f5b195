package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nnrunner/nnrunner/pipeline/cachekey"
	"github.com/nnrunner/nnrunner/pipeline/engine"
	"github.com/nnrunner/nnrunner/schema"
	"github.com/nnrunner/nnrunner/stages/builtin"
)

// load reads and validates the workflow and opens its engine.
func load(file string, set []string, c *common, stderr io.Writer) (*engine.Engine, hclog.Logger, error) {
	log, err := newLogger(stderr, c.logFormat, c.logLevel)
	if err != nil {
		return nil, nil, err
	}
	reg, err := builtin.Registry()
	if err != nil {
		return nil, nil, err
	}
	wf, err := schema.Load(file, schema.Options{Registry: reg, Set: set})
	if err != nil {
		return nil, nil, err
	}
	ex, err := executors(wf, set, c, log)
	if err != nil {
		return nil, nil, err
	}
	eng, err := engine.New(engine.Config{
		Executors: ex,
		Workflow:  wf,
		Log:       log,
		LogOutput: stderr,
		LogJSON:   c.logFormat == "json",
		LogLevel:  hclog.LevelFromString(c.logLevel),
		Version:   version(),
	})
	if err != nil {
		return nil, nil, err
	}
	return eng, log, nil
}

func cmdApply(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlagSet("apply", stderr)
	var targets, force listFlag
	var set setFlag
	fs.Var(&targets, "target", "apply only this stage and what it needs (repeatable)")
	fs.Var(&force, "force", "run this stage even if cached (repeatable)")
	fs.Var(&set, "set", "override params.NAME=VALUE or datasets.NAME=PATH (repeatable)")
	jobs := fs.Int("jobs", 0, "most stages running at once (default: number of CPUs)")
	noWait := fs.Bool("no-wait", false, "fail instead of waiting when another apply holds the workspace")
	pos, err := parse(fs, args, "FILE")
	if err != nil {
		return err
	}
	eng, log, err := load(pos[0], set, c, stderr)
	if err != nil {
		return err
	}
	defer eng.Close()
	start := time.Now()
	sum, err := eng.Apply(ctx, engine.ApplyOptions{
		Selection: engine.Selection{Targets: targets, Force: force},
		Jobs:      *jobs,
		NoWait:    *noWait,
		Command:   "runner " + strings.Join(append([]string{"apply"}, args...), " "),
	})
	if sum != nil {
		if c.logFormat == "json" {
			writeJSON(stdout, sum)
		} else {
			printSummary(stdout, sum)
		}
		hs := eng.HashStats()
		log.Info("apply finished", "duration", time.Since(start).Round(time.Millisecond), "files_hashed", hs.Files, "files_read", hs.FilesRead, "bytes_read", hs.BytesRead)
		warnExternalLinks(log, eng)
	}
	return err
}

// warnExternalLinks warns when inputs hold symlinks leading outside them:
// only the link text is in the cache key, not what it points at.
func warnExternalLinks(log hclog.Logger, eng *engine.Engine) {
	if n := eng.HashStats().ExternalLinks; n > 0 {
		log.Warn("inputs contain symlinks pointing outside their folder; only the link target's path is hashed, so changes to what they point at are not noticed (copy the files in, or list the targets as inputs)", "symlinks", n)
	}
}

func printSummary(w io.Writer, sum *engine.Summary) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STAGE\tDECISION\tSTATUS\tDURATION\tNOTE")
	for _, o := range sum.Outcomes {
		d := string(o.Decision)
		if d == "" {
			d = "-"
		}
		dur := "-"
		if o.Duration > 0 {
			dur = o.Duration.Round(time.Millisecond).String()
		}
		note := o.Reason
		if o.Status == engine.Done && o.Decision == engine.Skip {
			note = ""
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", o.Stage, d, o.Status, dur, oneLine(note))
	}
	tw.Flush()
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

func cmdPlan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlagSet("plan", stderr)
	var targets, force listFlag
	var set setFlag
	fs.Var(&targets, "target", "plan only this stage and what it needs (repeatable)")
	fs.Var(&force, "force", "plan this stage as forced (repeatable)")
	fs.Var(&set, "set", "override params.NAME=VALUE or datasets.NAME=PATH (repeatable)")
	asJSON := fs.Bool("json", false, "print the plan as JSON")
	explain := fs.Bool("explain", false, "list the changed files of changed inputs")
	detailed := fs.Bool("detailed-exitcode", false, "exit 0 when nothing is to do, 2 when work is pending, 1 on error")
	pos, err := parse(fs, args, "FILE")
	if err != nil {
		return err
	}
	eng, log, err := load(pos[0], set, c, stderr)
	if err != nil {
		return err
	}
	defer eng.Close()
	plan, err := eng.Plan(ctx, engine.Selection{Targets: targets, Force: force}, *explain)
	if err != nil {
		return err
	}
	warnExternalLinks(log, eng)
	if *asJSON {
		writeJSON(stdout, plan)
	} else {
		printPlan(stdout, plan, *explain)
	}
	if *detailed && plan.Pending() {
		return &pendingChanges{}
	}
	return nil
}

func printPlan(w io.Writer, plan *engine.Plan, explain bool) {
	counts := map[engine.Decision]int{}
	for _, n := range plan.Nodes {
		counts[n.Decision]++
		if !explain || len(n.Changes) == 0 {
			fmt.Fprintf(w, "%-8s %s: %s\n", n.Decision, n.Stage, oneLine(n.Reason))
			continue
		}
		fmt.Fprintf(w, "%-8s %s: differs from the committed result in:\n", n.Decision, n.Stage)
		for _, ch := range n.Changes {
			fmt.Fprintf(w, "         %s\n", ch.Text)
			for _, f := range ch.Files {
				fmt.Fprintf(w, "             %s\n", f)
			}
			if ch.Kind == cachekey.InputChange && len(ch.Files) == 0 {
				fmt.Fprintf(w, "             (same files; only the content digest differs)\n")
			}
		}
	}
	fmt.Fprintf(w, "\nPlan: %d to run, %d to restore, %d up to date.\n", counts[engine.Run], counts[engine.Restore], counts[engine.Skip])
}

func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlagSet("status", stderr)
	var set setFlag
	fs.Var(&set, "set", "override params.NAME=VALUE or datasets.NAME=PATH (repeatable)")
	pos, err := parse(fs, args, "FILE")
	if err != nil {
		return err
	}
	eng, _, err := load(pos[0], set, c, stderr)
	if err != nil {
		return err
	}
	defer eng.Close()
	st, err := eng.Status(ctx)
	if err != nil {
		return err
	}
	if c.logFormat == "json" {
		writeJSON(stdout, st)
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STAGE\tSTATE\tCOMMITTED\tKEY\tDURATION\tNEXT APPLY")
	for _, s := range st {
		committed, key, dur := "-", "-", "-"
		if s.Committed != nil {
			committed = s.Committed.CommittedAt.Local().Format(time.DateTime)
			key = s.Committed.Key.String()[:12]
			dur = (time.Duration(s.Committed.Duration * float64(time.Second))).Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Stage, s.State, committed, key, dur, oneLine(string(s.Next.Decision)+": "+s.Next.Reason))
	}
	return tw.Flush()
}

func cmdGraph(args []string, stdout, stderr io.Writer) error {
	fs, c := newFlagSet("graph", stderr)
	format := fs.String("format", "mermaid", "mermaid or dot")
	pos, err := parse(fs, args, "FILE")
	if err != nil {
		return err
	}
	if _, err := newLogger(stderr, c.logFormat, c.logLevel); err != nil {
		return err
	}
	reg, err := builtin.Registry()
	if err != nil {
		return err
	}
	wf, err := schema.Load(pos[0], schema.Options{Registry: reg})
	if err != nil {
		return err
	}
	switch *format {
	case "mermaid":
		fmt.Fprintln(stdout, "flowchart TD")
		for _, s := range wf.Stages {
			fmt.Fprintf(stdout, "  %s[\"%s (%s)\"]\n", s.ID, s.ID, s.Type)
		}
		wf.Graph.Edges(func(from, to string) { fmt.Fprintf(stdout, "  %s --> %s\n", from, to) })
	case "dot":
		fmt.Fprintf(stdout, "digraph %q {\n  rankdir=TB;\n", wf.Name)
		for _, s := range wf.Stages {
			fmt.Fprintf(stdout, "  %q [label=%q];\n", s.ID, s.ID+" ("+s.Type+")")
		}
		wf.Graph.Edges(func(from, to string) { fmt.Fprintf(stdout, "  %q -> %q;\n", from, to) })
		fmt.Fprintln(stdout, "}")
	default:
		return &usageError{msg: fmt.Sprintf("--format %q: use mermaid or dot", *format)}
	}
	return nil
}

func cmdOutput(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlagSet("output", stderr)
	var set setFlag
	fs.Var(&set, "set", "override params.NAME=VALUE or datasets.NAME=PATH (repeatable), as given to apply")
	pos, err := parse(fs, args, "FILE", "ID.NAME")
	if err != nil {
		return err
	}
	id, name, ok := strings.Cut(pos[1], ".")
	if !ok || id == "" || name == "" {
		return &usageError{msg: fmt.Sprintf("output %q: write STAGE.OUTPUT, e.g. count.count", pos[1])}
	}
	eng, _, err := load(pos[0], set, c, stderr)
	if err != nil {
		return err
	}
	defer eng.Close()
	p, err := eng.OutputPath(ctx, id, name)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, p)
	return nil
}

func cmdGC(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlagSet("gc", stderr)
	keep := fs.Int("keep-last", 0, "keep this many earlier results per stage besides the committed one (-1: all)")
	maxSize := fs.String("max-size", "", "then drop the oldest earlier results until the store is at most this size, e.g. 20GiB")
	noWait := fs.Bool("no-wait", false, "fail instead of waiting when another process holds the workspace")
	var set setFlag
	fs.Var(&set, "set", "override params.NAME=VALUE or datasets.NAME=PATH (repeatable), as given to apply: resume dirs of other keys may go")
	pos, err := parse(fs, args, "FILE")
	if err != nil {
		return err
	}
	var max int64
	if *maxSize != "" {
		if max, err = schema.ParseSize(*maxSize); err != nil {
			return &usageError{msg: "--max-size: " + err.Error()}
		}
	}
	eng, log, err := load(pos[0], set, c, stderr)
	if err != nil {
		return err
	}
	defer eng.Close()
	st, err := eng.GC(ctx, engine.GCOptions{KeepLast: *keep, MaxSize: max, NoWait: *noWait, Command: "runner gc"})
	if err != nil {
		return err
	}
	log.Info("gc finished", "results_removed", st.ResultsRemoved, "resume_dirs_removed", st.ResumeDirsRemoved, "job_files_removed", st.JobFilesRemoved, "results_kept", st.ResultsKept, "bytes_freed", st.BytesFreed, "store_size", st.StoreSize)
	if c.logFormat == "json" {
		writeJSON(stdout, st)
	}
	return nil
}

func cmdSchema(args []string, stdout, stderr io.Writer) error {
	fs, _ := newFlagSet("schema", stderr)
	format := fs.String("format", "json", "json (JSON Schema for editors) or markdown (reference for people)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *format != "json" && *format != "markdown" {
		return &usageError{msg: fmt.Sprintf("--format %q: use json or markdown", *format)}
	}
	reg, err := builtin.Registry()
	if err != nil {
		return err
	}
	if *format == "markdown" {
		return writeReference(stdout, reg)
	}
	out, err := schema.JSONSchema(reg)
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}

func cmdVersion(args []string, stdout, stderr io.Writer) error {
	fs, _ := newFlagSet("version", stderr)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "runner %s (cache key schema %d)\n", version(), cachekey.SchemaVersion)
	return nil
}

// version returns the module version, VCS revision and build tags (e.g.
// openblas, which decides the network's GEMM) of this build.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v, tags := bi.Main.Version, ""
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision" && len(s.Value) >= 12:
			v += " " + s.Value[:12]
		case s.Key == "vcs.modified" && s.Value == "true":
			v += "+dirty"
		case s.Key == "-tags" && s.Value != "":
			tags = " tags=" + s.Value
		}
	}
	return v + tags
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintln(os.Stderr, "encode JSON:", err)
	}
}
