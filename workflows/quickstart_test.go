// Package workflows_test runs the shipped workflow files through the
// engine.
package workflows_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nnrunner/nnrunner/pipeline/engine"
	"github.com/nnrunner/nnrunner/schema"
	"github.com/nnrunner/nnrunner/stages/builtin"
	"github.com/nnrunner/nnrunner/stages/pyjson"
)

// minimal shrinks the quickstart to the least work that still runs every
// stage: two pretraining cases, five finetuning cases (the
// planner makes 5 folds), one held-out case, one epoch of
// one iteration.
var minimal = []string{
	"params.pretrain_cases=2", "params.finetune_cases=5", "params.test_cases=1",
	"params.pretrain_epochs=1", "params.finetune_epochs=1",
	"params.iterations_per_epoch=1", "params.val_iterations=1",
}

// open loads the workflow copied to dir (so its workspace is dir/.runner)
// with the given overrides and opens its engine.
func open(t *testing.T, file string, set []string) *engine.Engine {
	t.Helper()
	reg, err := builtin.Registry()
	if err != nil {
		t.Fatal(err)
	}
	wf, err := schema.Load(file, schema.Options{Registry: reg, Set: set})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Config{Workflow: wf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}

// decisions maps each stage to its apply decision.
func decisions(s *engine.Summary) map[string]engine.Decision {
	m := map[string]engine.Decision{}
	for _, o := range s.Outcomes {
		m[o.Stage] = o.Decision
	}
	return m
}

// TestQuickstart runs workflows/quickstart.yaml end to end with a minimal
// budget, then checks the caching contract: a second apply runs nothing,
// and one changed finetune parameter re-runs exactly finetune, predict and
// evaluate.
func TestQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end workflow run skipped in -short mode")
	}
	src, err := os.ReadFile("quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "quickstart.yaml")
	if err := os.WriteFile(file, src, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	eng := open(t, file, minimal)
	sum, err := eng.Apply(ctx, engine.ApplyOptions{Jobs: 2})
	if sum != nil {
		for _, o := range sum.Outcomes {
			if o.Err != nil {
				t.Errorf("%s: %v", o.Stage, o.Err)
			}
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range sum.Outcomes {
		if o.Status != engine.Done || o.Decision != engine.Run {
			t.Errorf("first apply: %s %s %s (%v)", o.Stage, o.Decision, o.Status, o.Err)
		}
	}
	summary := eng.Layout().OutputPath("evaluate", "summary.json")
	doc, err := pyjson.ReadObject(summary)
	if err != nil {
		t.Fatal(err)
	}
	mean, _ := doc.Get("mean")
	if m, ok := mean.(*pyjson.Object); !ok || strings.Join(m.Keys(), ",") != "1,2" {
		t.Errorf("summary.json mean: %v, want organ (1) and lesion (2)", mean)
	}

	plan, err := open(t, file, minimal).Plan(ctx, engine.Selection{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Pending() {
		for _, n := range plan.Nodes {
			t.Logf("%s %s: %s", n.Decision, n.Stage, n.Reason)
		}
		t.Fatal("second plan: work pending, want everything up to date")
	}

	changed := append(slices.Clone(minimal), "params.finetune_epochs=2")
	eng = open(t, file, changed)
	plan, err = eng.Plan(ctx, engine.Selection{}, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range plan.Nodes {
		if n.Stage == "finetune" {
			var texts []string
			for _, c := range n.Changes {
				texts = append(texts, c.Text)
			}
			if !strings.Contains(strings.Join(texts, "; "), "epochs") {
				t.Errorf("finetune changes %q do not name the epochs parameter", texts)
			}
		}
	}
	sum, err = eng.Apply(ctx, engine.ApplyOptions{Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	ran := []string{}
	for stage, d := range decisions(sum) {
		if d != engine.Skip {
			ran = append(ran, stage)
		}
	}
	slices.Sort(ran)
	if want := []string{"evaluate", "finetune", "predict"}; !slices.Equal(ran, want) {
		t.Errorf("after changing finetune epochs, stages not skipped: %v, want %v", ran, want)
	}
}
