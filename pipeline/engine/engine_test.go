package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/nnrunner/nnrunner/pipeline/stage"
	"github.com/nnrunner/nnrunner/pipeline/workspace"
	"github.com/nnrunner/nnrunner/schema"
)

// testStage writes its `text` param followed by the content of its input
// files into out.txt, and counts its runs per `name`.
type testStage struct {
	typ    string
	resume bool
	mu     sync.Mutex
	runs   map[string]int
	// hook, when set, runs first; its error fails the run.
	hook func(ctx context.Context, name string, req *stage.Request) error
}

func newTestStage(typ string, resume bool) *testStage {
	return &testStage{typ: typ, resume: resume, runs: map[string]int{}}
}

func (s *testStage) Spec() stage.Spec {
	return stage.Spec{Type: s.typ, Version: 1, Resume: s.resume, Params: []stage.Param{
		{Name: "name", Kind: stage.String, Required: true},
		{Name: "text", Kind: stage.String},
		{Name: "inputs", Kind: stage.Paths},
		{Name: "deps", Kind: stage.Paths}, // hashed into the key, not read
		{Name: "env", Kind: stage.Env},
	}}
}

func (s *testStage) Outputs(stage.Values) ([]stage.Output, error) {
	return []stage.Output{{Name: "out", Path: "out.txt"}}, nil
}

func (s *testStage) Run(ctx context.Context, req *stage.Request) error {
	name, _ := req.With.String("name")
	s.mu.Lock()
	s.runs[name]++
	hook := s.hook
	s.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, name, req); err != nil {
			return err
		}
	}
	text, _ := req.With.String("text")
	var b strings.Builder
	b.WriteString(text)
	if req.With.Has("inputs") {
		ins, _ := req.With.Strings("inputs")
		for _, in := range ins {
			if data, err := os.ReadFile(in); err == nil {
				b.Write(data)
			}
		}
	}
	return os.WriteFile(filepath.Join(req.OutDir, "out.txt"), []byte(b.String()), 0o644)
}

func (s *testStage) count(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs[name]
}

// fixture is a workflow in a temp dir: a -> b, both of type "t", with a
// dataset folder holding one file.
type fixture struct {
	t      *testing.T
	dir    string
	file   string
	st     *testStage
	resume *testStage
	reg    *stage.Registry
}

const fixtureYAML = `version: 1
params: {text: hello}
datasets: {pre: data}
stages:
  a:
    type: t
    with: {name: a, text: "${params.text}", inputs: ["${datasets.pre}/x.txt"], env: [RUNNER_TEST_ENV]}
  b:
    type: t
    with: {name: b, text: "b:", inputs: ["${stages.a.outputs.out}"]}
  c:
    type: t
    with: {name: c, text: c}
`

func newFixture(t *testing.T, yaml string) *fixture {
	t.Helper()
	d := t.TempDir()
	if err := os.MkdirAll(filepath.Join(d, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, dir: d, file: filepath.Join(d, "wf.yaml"), st: newTestStage("t", false), resume: newTestStage("r", true)}
	f.write("data/x.txt", "x1")
	f.write("wf.yaml", yaml)
	f.reg = stage.NewRegistry()
	for _, s := range []stage.Stage{f.st, f.resume} {
		if err := f.reg.Register(s); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) write(rel, content string) {
	f.t.Helper()
	p := filepath.Join(f.dir, rel)
	os.Remove(p)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) engine(set ...string) *Engine {
	f.t.Helper()
	wf, err := schema.Load(f.file, schema.Options{Registry: f.reg, Set: set})
	if err != nil {
		f.t.Fatal(err)
	}
	e, err := New(Config{Workflow: wf, Log: hclog.NewNullLogger(), Machine: Machine{CPUs: 4, Memory: 1 << 30, GPUs: 1}})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { e.Close() })
	return e
}

func (f *fixture) apply(opts ApplyOptions, set ...string) (map[string]*Outcome, error) {
	f.t.Helper()
	sum, err := f.engine(set...).Apply(context.Background(), opts)
	out := map[string]*Outcome{}
	if sum != nil {
		for _, o := range sum.Outcomes {
			out[o.Stage] = o
		}
	}
	return out, err
}

func (f *fixture) out(id string) string {
	f.t.Helper()
	data, err := os.ReadFile(filepath.Join(f.dir, ".runner", "out", id, "out.txt"))
	if err != nil {
		f.t.Fatal(err)
	}
	return string(data)
}

func TestDecisions(t *testing.T) {
	type step struct {
		name    string
		before  func(f *fixture)
		set     []string
		opts    ApplyOptions
		want    map[string]Decision // absent stages must not be in the outcome
		reason  map[string]string   // substring of the outcome's reason
		runs    map[string]int      // cumulative runs per stage
		outA    string              // content of a's committed output, when set
		wantErr bool
	}
	steps := []step{
		{name: "fresh: everything runs", want: map[string]Decision{"a": Run, "b": Run, "c": Run},
			reason: map[string]string{"a": "never run"}, runs: map[string]int{"a": 1, "b": 1, "c": 1}, outA: "hellox1"},
		{name: "again: everything skips", want: map[string]Decision{"a": Skip, "b": Skip, "c": Skip}, runs: map[string]int{"a": 1, "b": 1}},
		{name: "param change runs a and b", set: []string{"params.text=bye"},
			want:   map[string]Decision{"a": Run, "b": Run, "c": Skip},
			reason: map[string]string{"a": `param text: "hello" -> "bye"`, "b": "input stages.a.outputs.out changed"},
			runs:   map[string]int{"a": 2, "b": 2, "c": 1}, outA: "byex1"},
		{name: "reverting the param restores", want: map[string]Decision{"a": Restore, "b": Restore, "c": Skip},
			reason: map[string]string{"a": "same key as the run of"}, runs: map[string]int{"a": 2, "b": 2}, outA: "hellox1"},
		{name: "force b runs only b", opts: ApplyOptions{Selection: Selection{Force: []string{"b"}}},
			want: map[string]Decision{"a": Skip, "b": Run, "c": Skip}, reason: map[string]string{"b": "forced"}, runs: map[string]int{"a": 2, "b": 3}},
		{name: "force a with equal output: b skips (early cutoff)", opts: ApplyOptions{Selection: Selection{Force: []string{"a"}}},
			want: map[string]Decision{"a": Run, "b": Skip, "c": Skip}, runs: map[string]int{"a": 3, "b": 3}},
		{name: "target a ignores the rest", set: []string{"params.text=t1"}, opts: ApplyOptions{Selection: Selection{Targets: []string{"a"}}},
			want: map[string]Decision{"a": Run}, runs: map[string]int{"a": 4, "b": 3}, outA: "t1x1"},
		{name: "target b brings a along", opts: ApplyOptions{Selection: Selection{Targets: []string{"b"}}},
			want: map[string]Decision{"a": Restore, "b": Skip}, runs: map[string]int{"a": 4, "b": 3}, outA: "hellox1"},
		{name: "deleted outputs are restored",
			before: func(f *fixture) { workspace.RemoveAll(filepath.Join(f.dir, ".runner", "out", "a")) },
			want:   map[string]Decision{"a": Restore, "b": Skip, "c": Skip}, reason: map[string]string{"a": "committed outputs are missing"},
			runs: map[string]int{"a": 4}, outA: "hellox1"},
		{name: "replaced output file is restored",
			before: func(f *fixture) {
				p := filepath.Join(f.dir, ".runner", "out", "a", "out.txt")
				os.Remove(p)
				os.WriteFile(p, []byte("tampered"), 0o644)
			},
			want: map[string]Decision{"a": Restore, "b": Skip, "c": Skip}, reason: map[string]string{"a": "were modified (modified out.txt (content))"},
			runs: map[string]int{"a": 4}, outA: "hellox1"},
		{name: "output edited in place corrupts its blob: restore detects it and a runs",
			before: func(f *fixture) {
				p := filepath.Join(f.dir, ".runner", "out", "a", "out.txt")
				os.Chmod(p, 0o644)
				os.WriteFile(p, []byte("hellox2"), 0o644) // same size, hardlinked to the blob
			},
			want: map[string]Decision{"a": Run, "b": Skip, "c": Skip}, reason: map[string]string{"a": "restore failed"},
			runs: map[string]int{"a": 5}, outA: "hellox1"},
		{name: "input file change runs a and b", before: func(f *fixture) { f.write("data/x.txt", "x2") },
			want: map[string]Decision{"a": Run, "b": Run, "c": Skip}, reason: map[string]string{"a": "input datasets.pre changed"},
			runs: map[string]int{"a": 6, "b": 4}, outA: "hellox2"},
		{name: "allow-listed env change runs a", before: func(f *fixture) { t.Setenv("RUNNER_TEST_ENV", "1") },
			want: map[string]Decision{"a": Run, "b": Skip, "c": Skip}, reason: map[string]string{"a": `env RUNNER_TEST_ENV: (unset) -> "1"`},
			runs: map[string]int{"a": 7, "b": 4}},
		{name: "a failure blocks b, keeps c", set: []string{"params.text=boom"},
			before: func(f *fixture) {
				f.st.hook = func(_ context.Context, name string, req *stage.Request) error {
					if name == "a" {
						return errors.New("boom")
					}
					return nil
				}
			},
			want: map[string]Decision{"a": Run, "c": Skip}, runs: map[string]int{"a": 8, "b": 4}, outA: "hellox2", wantErr: true},
	}
	f := newFixture(t, fixtureYAML)
	for _, s := range steps {
		f.st.hook = nil
		if s.before != nil {
			s.before(f)
		}
		got, err := f.apply(s.opts, s.set...)
		if (err != nil) != s.wantErr {
			t.Fatalf("%s: err = %v, want error %v", s.name, err, s.wantErr)
		}
		for id, o := range got {
			want, ok := s.want[id]
			switch {
			case !ok && o.Decision != "":
				t.Errorf("%s: stage %s decided %s, want it left out", s.name, id, o.Decision)
			case ok && o.Decision != want:
				t.Errorf("%s: stage %s = %s (%s), want %s", s.name, id, o.Decision, o.Reason, want)
			}
			if r := s.reason[id]; r != "" && !strings.Contains(o.Reason, r) {
				t.Errorf("%s: stage %s reason %q lacks %q", s.name, id, o.Reason, r)
			}
		}
		for id := range s.want {
			if got[id] == nil {
				t.Errorf("%s: stage %s missing from the outcome", s.name, id)
			}
		}
		for id, n := range s.runs {
			if c := f.st.count(id); c != n {
				t.Errorf("%s: stage %s ran %d times in all, want %d", s.name, id, c, n)
			}
		}
		if s.outA != "" {
			if o := f.out("a"); o != s.outA {
				t.Errorf("%s: out/a = %q, want %q", s.name, o, s.outA)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
	}
}

func TestFailureOutcome(t *testing.T) {
	f := newFixture(t, fixtureYAML)
	f.st.hook = func(_ context.Context, name string, _ *stage.Request) error {
		if name == "a" {
			return errors.New("boom")
		}
		return nil
	}
	got, err := f.apply(ApplyOptions{})
	var fe *FailedError
	if !errors.As(err, &fe) || fe.ExitCode() != 1 {
		t.Fatalf("err = %v, want *FailedError", err)
	}
	if got["a"].Status != Failed || got["b"].Status != Blocked || got["c"].Status != Done {
		t.Errorf("statuses a=%s b=%s c=%s", got["a"].Status, got["b"].Status, got["c"].Status)
	}
	if _, err := os.Stat(filepath.Join(f.dir, ".runner", "state", "a.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("failed stage has a committed record: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(f.dir, ".runner", "staging"))
	if len(entries) != 0 {
		t.Errorf("staging dir not cleaned: %v", entries)
	}
}

func TestRetries(t *testing.T) {
	f := newFixture(t, "version: 1\nstages:\n  a: {type: t, retries: 2, with: {name: a}}\n")
	f.st.hook = func(_ context.Context, name string, req *stage.Request) error {
		if f.st.count(name) < 3 {
			return fmt.Errorf("flaky attempt")
		}
		return nil
	}
	got, err := f.apply(ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got["a"].Attempts != 3 || f.st.count("a") != 3 {
		t.Errorf("attempts %d, runs %d; want 3", got["a"].Attempts, f.st.count("a"))
	}
}

func TestTaintedInputsAreNotCommitted(t *testing.T) {
	f := newFixture(t, fixtureYAML)
	f.st.hook = func(_ context.Context, name string, _ *stage.Request) error {
		if name == "a" {
			f.write("data/x.txt", "changed during the run")
		}
		return nil
	}
	got, err := f.apply(ApplyOptions{})
	var fe *FailedError
	if !errors.As(err, &fe) || len(fe.Failed) != 1 || fe.Failed[0] != "a" {
		t.Fatalf("err = %v, want stage a failed", err)
	}
	if got["a"].Status != Tainted || !strings.Contains(got["a"].Reason, "datasets.pre") {
		t.Errorf("a: %s %q", got["a"].Status, got["a"].Reason)
	}
	if _, err := os.Stat(filepath.Join(f.dir, ".runner", "out", "a")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("tainted output was committed")
	}
	f.st.hook = nil
	got, err = f.apply(ApplyOptions{})
	if err != nil || got["a"].Decision != Run {
		t.Fatalf("next apply: %v, a=%s", err, got["a"].Decision)
	}
	if o := f.out("a"); o != "hellochanged during the run" {
		t.Errorf("out/a = %q", o)
	}
}

func TestCancel(t *testing.T) {
	f := newFixture(t, fixtureYAML)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.st.hook = func(ctx context.Context, name string, _ *stage.Request) error {
		if name != "a" {
			return nil
		}
		cancel() // Ctrl-C while a runs
		<-ctx.Done()
		return ctx.Err()
	}
	e := f.engine()
	sum, err := e.Apply(ctx, ApplyOptions{Jobs: 1})
	var ie *InterruptedError
	if !errors.As(err, &ie) || ie.ExitCode() != 130 {
		t.Fatalf("err = %v, want *InterruptedError", err)
	}
	for _, o := range sum.Outcomes {
		if o.Status == Done {
			t.Errorf("stage %s finished after the cancel", o.Stage)
		}
	}
	if _, err := os.Stat(filepath.Join(f.dir, ".runner", "state", "a.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("cancelled stage was committed")
	}
	entries, _ := os.ReadDir(filepath.Join(f.dir, ".runner", "staging"))
	if len(entries) != 0 {
		t.Errorf("staging dir of the cancelled run left behind: %v", entries)
	}
}

func TestResume(t *testing.T) {
	f := newFixture(t, "version: 1\nstages:\n  train: {type: r, with: {name: train}}\n")
	var resumed []bool
	f.resume.hook = func(_ context.Context, _ string, req *stage.Request) error {
		resumed = append(resumed, req.Resumed)
		ckpt := filepath.Join(req.OutDir, "checkpoint")
		if _, err := os.Stat(ckpt); err != nil {
			os.WriteFile(ckpt, []byte("epoch 1"), 0o644)
			return errors.New("killed at epoch 1")
		}
		return nil
	}
	if _, err := f.apply(ApplyOptions{}); err == nil {
		t.Fatal("first attempt: no error")
	}
	// A later apply (a new process would clean other staging dirs) resumes.
	if _, err := f.apply(ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(resumed) != 2 || resumed[0] || !resumed[1] {
		t.Errorf("Resumed per attempt = %v, want [false true]", resumed)
	}
	ck, err := os.ReadFile(filepath.Join(f.dir, ".runner", "out", "train", "checkpoint"))
	if err != nil || string(ck) != "epoch 1" {
		t.Errorf("checkpoint not carried over: %q %v", ck, err)
	}
}

func TestPlan(t *testing.T) {
	f := newFixture(t, fixtureYAML)
	if _, err := f.apply(ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	f.write("data/x.txt", "x9")
	p, err := f.engine().Plan(context.Background(), Selection{}, true)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*NodePlan{}
	for _, n := range p.Nodes {
		byID[n.Stage] = n
	}
	a, b := byID["a"], byID["b"]
	if a.Decision != Run || len(a.Changes) != 1 || a.Changes[0].Name != "datasets.pre" {
		t.Fatalf("a: %s %+v", a.Decision, a.Changes)
	}
	if len(a.Changes[0].Files) != 1 || a.Changes[0].Files[0] != "modified x.txt (content)" {
		t.Errorf("a's changed files = %q", a.Changes[0].Files)
	}
	if b.Decision != Run || b.Key != "" || len(b.Waits) != 1 || b.Waits[0] != "a" {
		t.Errorf("b: %s key %q waits %v", b.Decision, b.Key, b.Waits)
	}
	if byID["c"].Decision != Skip || !p.Pending() {
		t.Errorf("c: %s, pending %v", byID["c"].Decision, p.Pending())
	}
	if _, err := f.engine().Plan(context.Background(), Selection{Targets: []string{"nope"}}, false); err == nil {
		t.Error("unknown target accepted")
	}
}

func TestOutputPathAndGC(t *testing.T) {
	f := newFixture(t, fixtureYAML)
	e := f.engine()
	if _, err := e.OutputPath(context.Background(), "a", "out"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("output before apply: %v", err)
	}
	for _, text := range []string{"one", "two", "three"} {
		if _, err := f.apply(ApplyOptions{}, "params.text="+text); err != nil {
			t.Fatal(err)
		}
	}
	p, err := f.engine("params.text=three").OutputPath(context.Background(), "a", "out")
	if err != nil || p != filepath.Join(f.dir, ".runner", "out", "a", "out.txt") {
		t.Fatalf("OutputPath = %q, %v", p, err)
	}
	// Other settings: the committed output is not theirs.
	for _, set := range [][]string{nil, {"params.text=two"}} {
		if _, err := f.engine(set...).OutputPath(context.Background(), "b", "out"); !errors.Is(err, ErrOutdated) {
			t.Errorf("OutputPath of b with %v: %v, want ErrOutdated", set, err)
		}
	}
	st, err := f.engine().GC(context.Background(), GCOptions{KeepLast: 1})
	if err != nil {
		t.Fatal(err)
	}
	// a and b have 3 results each (one committed + 1 kept), c has 1.
	if st.ResultsRemoved != 2 || st.ResultsKept != 5 {
		t.Errorf("gc: %+v", st)
	}
	got, err := f.apply(ApplyOptions{}, "params.text=two")
	if err != nil || got["a"].Decision != Restore {
		t.Errorf("kept result not restorable: %v %s", err, got["a"].Decision)
	}
	got, err = f.apply(ApplyOptions{}, "params.text=one")
	if err != nil || got["a"].Decision != Run {
		t.Errorf("collected result still restorable: %v %s", err, got["a"].Decision)
	}
}

func TestGCResumeDirs(t *testing.T) {
	f := newFixture(t, "version: 1\nparams: {text: one}\nstages:\n  train: {type: r, with: {name: train, text: \"${params.text}\"}}\n")
	fail := true
	f.resume.hook = func(context.Context, string, *stage.Request) error {
		if fail {
			return errors.New("killed")
		}
		return nil
	}
	staging := filepath.Join(f.dir, ".runner", "staging")
	resumeDirs := func() []string {
		t.Helper()
		m, err := filepath.Glob(filepath.Join(staging, "train.*.resume"))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	gc := func(set ...string) *GCStats {
		t.Helper()
		st, err := f.engine(set...).GC(context.Background(), GCOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	// Interrupted with text=one, then text=two interrupted too.
	for _, text := range []string{"one", "two"} {
		if _, err := f.apply(ApplyOptions{}, "params.text="+text); err == nil {
			t.Fatalf("text=%s: no error", text)
		}
	}
	if n := len(resumeDirs()); n != 2 {
		t.Fatalf("%d resume dirs, want 2", n)
	}
	// Nothing committed since: both stay, whatever the plan.
	if st := gc(); st.ResumeDirsRemoved != 0 || len(resumeDirs()) != 2 {
		t.Fatalf("gc before any commit removed %d", st.ResumeDirsRemoved)
	}
	// text=three finishes; one and two are now older than the commit.
	fail = false
	if _, err := f.apply(ApplyOptions{}, "params.text=three"); err != nil {
		t.Fatal(err)
	}
	// Planned with text=two, gc keeps two's dir and removes one's.
	if st := gc("params.text=two"); st.ResumeDirsRemoved != 1 {
		t.Fatalf("gc removed %d resume dirs, want 1", st.ResumeDirsRemoved)
	}
	fail = true
	got, _ := f.apply(ApplyOptions{}, "params.text=two")
	if o := got["train"]; o == nil || o.Status != Failed {
		t.Fatalf("text=two: %+v", o)
	}
	if n := len(resumeDirs()); n != 1 {
		t.Fatalf("%d resume dirs, want two's", n)
	}
	// A stage that left the workflow loses its resume dir.
	f.write("wf.yaml", "version: 1\nstages:\n  other: {type: t, with: {name: o}}\n")
	if st := gc(); st.ResumeDirsRemoved != 1 || len(resumeDirs()) != 0 {
		t.Errorf("gc after the stage left: removed %d, left %v", st.ResumeDirsRemoved, resumeDirs())
	}
}

func TestResourcesBeyondMachine(t *testing.T) {
	f := newFixture(t, "version: 1\nstages:\n  a: {type: t, resources: {gpus: 2}, with: {name: a}}\n")
	_, err := f.apply(ApplyOptions{})
	var ue *UsageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "needs 2 GPU(s); this machine has 1") {
		t.Fatalf("err = %v", err)
	}
}
