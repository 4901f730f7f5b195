package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/nnrunner/nnrunner/pipeline/stage"
	"github.com/nnrunner/nnrunner/schema"
)

// benchNodes is the size of the generated workflow for load and plan;
// committedNodes that of the committed one for up-to-date plan and no-op
// apply (committing each stage once costs several fsyncs, which makes the
// set-up of a 10,000-stage workspace take minutes).
const (
	benchNodes     = 10000
	committedNodes = 1000
)

// writeBigWorkflow writes a workflow of n stages in which stage i reads the
// outputs of stages i-1 and i/2 (a deep, branching DAG) and every tenth
// stage reads a dataset file.
func writeBigWorkflow(b *testing.B, n int) (string, *stage.Registry) {
	b.Helper()
	d := b.TempDir()
	if err := os.MkdirAll(filepath.Join(d, "data"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "data", "x.txt"), []byte("x"), 0o644); err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	sb.WriteString("version: 1\nparams: {text: hi}\ndatasets: {pre: data}\nstages:\n")
	for i := 0; i < n; i++ {
		var deps []string
		if i > 0 {
			deps = append(deps, fmt.Sprintf(`"${stages.s%d.outputs.out}"`, i-1))
		}
		if i > 1 && i/2 != i-1 {
			deps = append(deps, fmt.Sprintf(`"${stages.s%d.outputs.out}"`, i/2))
		}
		if i%10 == 0 {
			deps = append(deps, `"${datasets.pre}/x.txt"`)
		}
		fmt.Fprintf(&sb, "  s%d:\n    type: t\n    with: {name: s%d, text: \"${params.text}\", deps: [%s]}\n", i, i, strings.Join(deps, ", "))
	}
	file := filepath.Join(d, "wf.yaml")
	if err := os.WriteFile(file, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	reg := stage.NewRegistry()
	if err := reg.Register(newTestStage("t", false)); err != nil {
		b.Fatal(err)
	}
	return file, reg
}

func benchEngine(b *testing.B, file string, reg *stage.Registry) *Engine {
	b.Helper()
	wf, err := schema.Load(file, schema.Options{Registry: reg})
	if err != nil {
		b.Fatal(err)
	}
	e, err := New(Config{Workflow: wf, Log: hclog.NewNullLogger()})
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// BenchmarkLoad10k parses and validates a 10,000-stage workflow.
func BenchmarkLoad10k(b *testing.B) {
	file, reg := writeBigWorkflow(b, benchNodes)
	b.ResetTimer()
	for b.Loop() {
		if _, err := schema.Load(file, schema.Options{Registry: reg}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlan10kFresh plans a 10,000-stage workflow in an empty
// workspace (load + plan, as `runner plan` does).
func BenchmarkPlan10kFresh(b *testing.B) {
	file, reg := writeBigWorkflow(b, benchNodes)
	b.ResetTimer()
	for b.Loop() {
		e := benchEngine(b, file, reg)
		if _, err := e.Plan(context.Background(), Selection{}, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlan1kUpToDate plans a 1,000-stage workflow whose every stage is
// committed: load, 1,000 key computations and output checks, all SKIP.
func BenchmarkPlan1kUpToDate(b *testing.B) {
	file, reg := writeBigWorkflow(b, committedNodes)
	if _, err := benchEngine(b, file, reg).Apply(context.Background(), ApplyOptions{}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		e := benchEngine(b, file, reg)
		p, err := e.Plan(context.Background(), Selection{}, false)
		if err != nil {
			b.Fatal(err)
		}
		if p.Pending() {
			b.Fatal("plan after apply has work pending")
		}
	}
}

// BenchmarkApply1kNoop is a no-op apply of a committed 1,000-stage workflow
// (lock, staging cleanup, scheduling, 1,000 SKIPs).
func BenchmarkApply1kNoop(b *testing.B) {
	file, reg := writeBigWorkflow(b, committedNodes)
	if _, err := benchEngine(b, file, reg).Apply(context.Background(), ApplyOptions{}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		e := benchEngine(b, file, reg)
		sum, err := e.Apply(context.Background(), ApplyOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if sum.Outcomes[len(sum.Outcomes)-1].Decision != Skip {
			b.Fatal("no-op apply ran something")
		}
	}
}
