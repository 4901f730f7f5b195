package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/nnrunner/nnrunner/pipeline/record"
	"github.com/nnrunner/nnrunner/pipeline/workspace"
	"github.com/nnrunner/nnrunner/schema"
)

// fakeExecutor runs each job in this process, as a remote worker would,
// and keeps the staging dirs of the key prefixes in keep.
type fakeExecutor struct {
	mu     sync.Mutex
	jobs   []*Job
	keep   map[string]bool
	pruned int // Prune calls
}

func (x *fakeExecutor) Run(ctx context.Context, job *Job) error {
	x.mu.Lock()
	x.jobs = append(x.jobs, job)
	x.mu.Unlock()
	return RunLocal(ctx, job.Stage, job.Dir, job.Resumed, 1, job.Log)
}

func (x *fakeExecutor) Keeps(id, keyPrefix string) bool { return x.keep[id+"."+keyPrefix] }

func (x *fakeExecutor) Prune() (int, error) {
	x.pruned++
	return 2, nil
}

func (f *fixture) engineWith(x Executor) *Engine {
	f.t.Helper()
	wf, err := schema.Load(f.file, schema.Options{Registry: f.reg})
	if err != nil {
		f.t.Fatal(err)
	}
	e, err := New(Config{Workflow: wf, Log: hclog.NewNullLogger(), Machine: Machine{CPUs: 4, Memory: 1 << 30, GPUs: 1},
		Executors: map[string]Executor{"slurm": x}})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { e.Close() })
	return e
}

const remoteYAML = `version: 1
executor: EXECUTOR
datasets: {pre: data}
stages:
  a:
    type: t
    resources: {gpus: 4, memory: 64GiB}
    with: {name: a, text: remote, inputs: ["${datasets.pre}/x.txt"]}
  b:
    type: t
    executor: local
    with: {name: b, text: "b:", inputs: ["${stages.a.outputs.out}"]}
`

func TestRemoteStageCommitsLikeLocal(t *testing.T) {
	committed := map[string]map[string]*record.Committed{}
	var x *fakeExecutor
	for _, ex := range []string{"local", "slurm"} {
		f := newFixture(t, strings.ReplaceAll(remoteYAML, "EXECUTOR", ex))
		if ex == "local" {
			// The local run must fit this machine.
			f.write("wf.yaml", strings.ReplaceAll(strings.ReplaceAll(remoteYAML, "EXECUTOR", ex), "{gpus: 4, memory: 64GiB}", "{}"))
		}
		x = &fakeExecutor{}
		sum, err := f.engineWith(x).Apply(context.Background(), ApplyOptions{})
		if err != nil {
			t.Fatalf("%s: %v", ex, err)
		}
		for _, o := range sum.Outcomes {
			if o.Status != Done {
				t.Fatalf("%s: stage %s %s: %v", ex, o.Stage, o.Status, o.Err)
			}
		}
		db := record.Open(workspace.Layout{Root: filepath.Join(f.dir, ".runner")})
		committed[ex] = map[string]*record.Committed{}
		for _, id := range []string{"a", "b"} {
			if committed[ex][id], err = db.Committed(id); err != nil {
				t.Fatal(err)
			}
		}
		if got := f.out("b"); got != "b:remotex1" {
			t.Errorf("%s: b wrote %q", ex, got)
		}
	}
	if len(x.jobs) != 1 || x.jobs[0].Stage.ID != "a" || x.jobs[0].Attempt != 1 || x.jobs[0].Components == nil {
		t.Fatalf("the executor got %d job(s), want one attempt of a with its key components", len(x.jobs))
	}
	if !strings.HasSuffix(x.jobs[0].Dir, ".resume") {
		t.Errorf("a remote job's staging dir %s depends on the runner's pid", x.jobs[0].Dir)
	}
	for _, id := range []string{"a", "b"} {
		l, r := committed["local"][id], committed["slurm"][id]
		if l.Key != r.Key || l.Tree != r.Tree {
			t.Errorf("stage %s: remote key %s tree %s, local %s %s", id, r.Key, r.Tree, l.Key, l.Tree)
		}
	}
}

func TestCleanupKeepsDirsOfRemoteJobs(t *testing.T) {
	tests := []struct {
		name string
		keep bool
	}{
		{"journaled job", true},
		{"no job", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, strings.ReplaceAll(remoteYAML, "EXECUTOR", "slurm"))
			left := filepath.Join(f.dir, ".runner", "staging", "a.0123456789abcdef.resume")
			if err := os.MkdirAll(left, 0o755); err != nil {
				t.Fatal(err)
			}
			x := &fakeExecutor{keep: map[string]bool{"a.0123456789abcdef": tc.keep}}
			if _, err := f.engineWith(x).Apply(context.Background(), ApplyOptions{}); err != nil {
				t.Fatal(err)
			}
			_, err := os.Stat(left)
			if kept := err == nil; kept != tc.keep {
				t.Errorf("staging dir kept: %v, want %v", kept, tc.keep)
			}
		})
	}
}

func TestGCPrunesExecutors(t *testing.T) {
	f := newFixture(t, strings.ReplaceAll(remoteYAML, "EXECUTOR", "slurm"))
	x := &fakeExecutor{}
	st, err := f.engineWith(x).GC(context.Background(), GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if x.pruned != 1 || st.JobFilesRemoved != 2 {
		t.Errorf("Prune calls %d, JobFilesRemoved %d; want 1, 2", x.pruned, st.JobFilesRemoved)
	}
}

func TestUnavailableExecutor(t *testing.T) {
	f := newFixture(t, strings.ReplaceAll(remoteYAML, "EXECUTOR", "slurm"))
	out, err := f.apply(ApplyOptions{})
	if err == nil || out["a"].Status != Failed || !strings.Contains(out["a"].Reason, `executor "slurm" is not available`) {
		t.Fatalf("err %v, outcome %+v", err, out["a"])
	}
}
