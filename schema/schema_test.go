package schema

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nnrunner/nnrunner/pipeline/stage"
)

// fakeStage is a stage type with one parameter of every kind.
type fakeStage struct{}

func (fakeStage) Spec() stage.Spec {
	return stage.Spec{Type: "fake", Version: 1, Params: []stage.Param{
		{Name: "s", Kind: stage.String},
		{Name: "mode", Kind: stage.String, Enum: []string{"a", "b"}, Default: "a"},
		{Name: "n", Kind: stage.Int},
		{Name: "x", Kind: stage.Float},
		{Name: "b", Kind: stage.Bool},
		{Name: "p", Kind: stage.Path},
		{Name: "ps", Kind: stage.Paths},
		{Name: "ss", Kind: stage.Strings},
		{Name: "is", Kind: stage.Ints},
		{Name: "o", Kind: stage.Object},
		{Name: "env", Kind: stage.Env},
		{Name: "req", Kind: stage.String, Required: true},
	}}
}

func (fakeStage) Outputs(stage.Values) ([]stage.Output, error) {
	return []stage.Output{{Name: "out", Path: "out.txt"}, {Name: "dir", Path: "d"}}, nil
}

func (fakeStage) Run(context.Context, *stage.Request) error { return errors.New("not run in tests") }

func registry(t *testing.T) *stage.Registry {
	t.Helper()
	r := stage.NewRegistry()
	if err := r.Register(fakeStage{}); err != nil {
		t.Fatal(err)
	}
	return r
}

// dir returns a temp folder with a dataset folder "data".
func dir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	if err := os.Mkdir(filepath.Join(d, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		set  []string
		want []string // substrings of the error, in order, each "line:col: msg"
	}{
		{"empty", "", nil, []string{"the file is empty"}},
		{"syntax", "version: 1\nstages: [\n", nil, []string{"invalid YAML"}},
		{"unknown top key", "version: 1\nstagez: {}\n", nil, []string{`:2:1: workflow: unknown key "stagez"`}},
		{"missing version", "stages: {}\n", nil, []string{":1:1: missing `version: 1`"}},
		{"bad version", "version: 2\nstages: {}\n", nil, []string{":1:10: unsupported version 2"}},
		{"unknown stage key", "version: 1\nstages:\n  a:\n    type: fake\n    with: {req: r}\n    retry: 1\n", nil,
			[]string{`:6:5: stage a: unknown key "retry"; allowed keys: type, with, needs, resources, executor, slurm, retries`}},
		{"duplicate key", "version: 1\nstages:\n  a: {type: fake, with: {req: r}}\n  a: {type: fake, with: {req: r}}\n", nil,
			[]string{`:4:3: stages: duplicate key "a"`}},
		{"unknown type", "version: 1\nstages:\n  a: {type: nope}\n", nil, []string{`:3:13: stage a: unknown stage type "nope"; known types: fake`}},
		{"missing type", "version: 1\nstages:\n  a: {with: {}}\n", nil, []string{":3:3: stage a has no `type:`"}},
		{"unknown param", "version: 1\nstages:\n  a:\n    type: fake\n    with: {req: r, lr: 1}\n", nil,
			[]string{`:5:20: stage a (type fake): unknown parameter "lr"`}},
		{"missing required", "version: 1\nstages:\n  a:\n    type: fake\n", nil, []string{`:3:3: stage a (type fake): missing required parameter "req"`}},
		{"int type", "version: 1\nstages:\n  a:\n    type: fake\n    with: {req: r, n: 1.5}\n", nil,
			[]string{`:5:23: stage a (type fake): with.n: want an integer, got the number 1.5`}},
		{"bool type", "version: 1\nstages:\n  a:\n    type: fake\n    with: {req: r, b: yes please}\n", nil,
			[]string{`:5:23: stage a (type fake): with.b: want true or false`}},
		{"enum", "version: 1\nstages:\n  a:\n    type: fake\n    with: {req: r, mode: c}\n", nil,
			[]string{`:5:26: stage a (type fake): with.mode: "c" is not one of a, b`}},
		{"object type", "version: 1\nstages:\n  a:\n    type: fake\n    with: {req: r, o: [1]}\n", nil,
			[]string{`with.o: want a mapping, got a list`}},
		{"unknown dataset ref", "version: 1\nstages:\n  a:\n    type: fake\n    with: {req: '${datasets.nope}'}\n", nil,
			[]string{`:5:17: stage a: with.req: unknown reference ${datasets.nope}`}},
		{"unknown param ref", "version: 1\nparams: {lr: 1}\nstages:\n  a:\n    type: fake\n    with: {req: '${params.seed}'}\n", nil,
			[]string{`:6:17: stage a: with.req: unknown reference ${params.seed}; declared params: lr`}},
		{"unknown stage ref", "version: 1\nstages:\n  a:\n    type: fake\n    with: {req: '${stages.b.outputs.out}'}\n", nil,
			[]string{`unknown reference ${stages.b.outputs.out}: no stage "b"; stages: a`}},
		{"unknown output ref", "version: 1\nstages:\n  a: {type: fake, with: {req: r}}\n  b:\n    type: fake\n    with: {req: '${stages.a.outputs.nope}'}\n", nil,
			[]string{`stage a has no output "nope"; its outputs: out, dir`}},
		{"bad stage ref form", "version: 1\nstages:\n  a: {type: fake, with: {req: '${stages.a.out}'}}\n", nil,
			[]string{`write stage outputs as ${stages.ID.outputs.NAME}`}},
		{"needs unknown", "version: 1\nstages:\n  a: {type: fake, with: {req: r}, needs: [zz]}\n", nil,
			[]string{`:3:43: stage a: needs unknown stage "zz"`}},
		{"cycle", "version: 1\nstages:\n  a: {type: fake, with: {req: '${stages.c.outputs.out}'}}\n  b: {type: fake, with: {req: '${stages.a.outputs.out}'}}\n  c: {type: fake, with: {req: r}, needs: [b]}\n", nil,
			[]string{`:3:3: dependency cycle: a -> c -> b -> a`}},
		{"self cycle", "version: 1\nstages:\n  a: {type: fake, with: {req: r}, needs: [a]}\n", nil, []string{`dependency cycle: a -> a`}},
		{"missing dataset", "version: 1\ndatasets: {pre: nowhere}\nstages: {}\n", nil,
			[]string{`:2:17: dataset pre: folder `, `nowhere does not exist`}},
		{"dataset holds the workspace", "version: 1\ndatasets: {all: .}\nstages: {}\n", nil,
			[]string{`:2:17: dataset all: folder `, `contains the workspace`}},
		{"path input holds the workspace", "version: 1\nstages:\n  a: {type: fake, with: {req: r, ps: [data, .]}}\n", nil,
			[]string{`:3:38: stage a: input with.ps[1]`, `contains the workspace`}},
		{"executor", "version: 1\nstages:\n  a: {type: fake, with: {req: r}, executor: pbs}\n", nil,
			[]string{`:3:45: stage a: unknown executor "pbs"; use one of local, slurm`}},
		{"resources", "version: 1\nstages:\n  a: {type: fake, with: {req: r}, resources: {memory: lots}}\n", nil,
			[]string{`stages.a.resources.memory: want a size`}},
		{"bad stage id", "version: 1\nstages:\n  a.b: {type: fake}\n", nil, []string{`:3:3: stage id "a.b"`}},
		{"set unknown param", "version: 1\nparams: {lr: 1}\nstages: {}\n", []string{"params.seed=3"},
			[]string{`--set params.seed: the workflow declares no param "seed" (declared: lr)`}},
		{"set bad form", "version: 1\nstages: {}\n", []string{"seed"}, []string{`--set "seed": want KEY=VALUE`}},
		{"several errors", "version: 1\nstages:\n  a: {type: nope}\n  b: {type: fake}\n", nil,
			[]string{`:3:13: stage a: unknown stage type`, `:4:3: stage b (type fake): missing required`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := dir(t)
			file := filepath.Join(d, "wf.yaml")
			_, err := Parse(file, []byte(tc.yaml), Options{Registry: registry(t), Set: tc.set})
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			msg := err.Error()
			rest := msg
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("error\n%s\nlacks (in order) %q", msg, w)
				}
				rest = rest[i+len(w):]
			}
			if !strings.HasPrefix(msg, file) {
				t.Errorf("error %q does not start with the file name", msg)
			}
			var coded interface{ ExitCode() int }
			if !errors.As(err, &coded) || coded.ExitCode() != 1 {
				t.Errorf("error has no exit code 1")
			}
		})
	}
}

func TestResolve(t *testing.T) {
	d := dir(t)
	file := filepath.Join(d, "wf.yaml")
	src := `version: 1
name: demo
workspace: ws
params: {seed: 7, lr: 0.01, tag: run, flags: {a: 1}}
datasets: {pre: data}
stages:
  up:
    type: fake
    with:
      req: r
      n: ${params.seed}
      x: ${params.lr}
      p: ${datasets.pre}/imagesTr
      ps: [rel/file.txt, "${datasets.pre}"]
      ss: [sh, -c, 'echo $RUNNER_OUT ${HOME} $0', "${params.tag}-${params.seed}", 3]
      o: ${params.flags}
      env: [OMP_NUM_THREADS]
  down:
    type: fake
    needs: [up]
    resources: {cpus: 4, memory: 1GiB, gpus: 1}
    retries: 2
    with:
      req: ${stages.up.outputs.out}
      p: extra
`
	wf, err := Parse(file, []byte(src), Options{Registry: registry(t), Set: []string{"params.seed=9", "params.tag=x"}})
	if err != nil {
		t.Fatal(err)
	}
	if wf.Workspace != filepath.Join(d, "ws") || wf.Name != "demo" {
		t.Errorf("workspace %q name %q", wf.Workspace, wf.Name)
	}
	up, _ := wf.Stage("up")
	data := filepath.Join(d, "data")
	wantWith := stage.Values{
		"req": "r", "mode": "a", "n": int64(9), "x": 0.01,
		"p":   data + "/imagesTr",
		"ps":  []any{filepath.Join(d, "rel/file.txt"), data},
		"ss":  []any{"sh", "-c", "echo $RUNNER_OUT ${HOME} $0", "x-9", "3"},
		"o":   map[string]any{"a": int64(1)},
		"env": []any{"OMP_NUM_THREADS"},
	}
	if diff := cmp.Diff(wantWith, up.With); diff != "" {
		t.Errorf("run view (-want +got):\n%s", diff)
	}
	wantKey := stage.Values{
		"req": "r", "mode": "a", "n": int64(9), "x": 0.01,
		"p":   "${datasets.pre}/imagesTr",
		"ps":  []any{"rel/file.txt", "${datasets.pre}"},
		"ss":  []any{"sh", "-c", "echo $RUNNER_OUT ${HOME} $0", "x-9", "3"},
		"o":   map[string]any{"a": int64(1)},
		"env": []any{"OMP_NUM_THREADS"},
	}
	if diff := cmp.Diff(wantKey, up.KeyWith); diff != "" {
		t.Errorf("key view (-want +got):\n%s", diff)
	}
	wantInputs := []Input{
		{Name: "datasets.pre", Kind: DatasetInput, Path: data},
		{Name: "with.ps[0]", Kind: PathInput, Path: filepath.Join(d, "rel/file.txt")},
	}
	if diff := cmp.Diff(wantInputs, up.Inputs); diff != "" {
		t.Errorf("inputs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"OMP_NUM_THREADS"}, up.Env); diff != "" {
		t.Errorf("env: %s", diff)
	}
	down, _ := wf.Stage("down")
	outPath := filepath.Join(d, "ws", "out", "up", "out.txt")
	if down.With["req"] != outPath {
		t.Errorf("down.req = %v, want %s", down.With["req"], outPath)
	}
	if down.KeyWith["req"] != "${stages.up.outputs.out}" {
		t.Errorf("down key req = %v", down.KeyWith["req"])
	}
	wantDown := []Input{
		{Name: "stages.up.outputs.out", Kind: OutputInput, Path: outPath, Stage: "up", Output: "out"},
		{Name: "with.p", Kind: PathInput, Path: filepath.Join(d, "extra")},
	}
	if diff := cmp.Diff(wantDown, down.Inputs); diff != "" {
		t.Errorf("down inputs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Resources{CPUs: 4, Memory: 1 << 30, GPUs: 1}, down.Resources); diff != "" {
		t.Errorf("resources: %s", diff)
	}
	if down.Retries != 2 || up.Resources.CPUs != 1 {
		t.Errorf("retries %d, default cpus %d", down.Retries, up.Resources.CPUs)
	}
	if diff := cmp.Diff([]string{"up", "down"}, wf.Graph.Order()); diff != "" {
		t.Errorf("order: %s", diff)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1024", 1024, true}, {"8GiB", 8 << 30, true}, {"512MiB", 512 << 20, true},
		{"2GB", 2e9, true}, {"10G", 10 << 30, true}, {"1.5KiB", 1536, true},
		{"lots", 0, false}, {"5XB", 0, false}, {"", 0, false},
	}
	for _, tc := range tests {
		got, err := ParseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestJSONSchema(t *testing.T) {
	out, err := JSONSchema(registry(t))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	stages := doc["properties"].(map[string]any)["stages"].(map[string]any)
	st := stages["additionalProperties"].(map[string]any)
	types := st["properties"].(map[string]any)["type"].(map[string]any)["enum"]
	if diff := cmp.Diff([]any{"fake"}, types); diff != "" {
		t.Errorf("type enum: %s", diff)
	}
	rule := st["allOf"].([]any)[0].(map[string]any)
	with := rule["then"].(map[string]any)["properties"].(map[string]any)["with"].(map[string]any)
	if diff := cmp.Diff([]any{"req"}, with["required"]); diff != "" {
		t.Errorf("required: %s", diff)
	}
	if with["additionalProperties"] != false {
		t.Errorf("with allows unknown keys")
	}
}

func TestFindRefs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"plain", nil},
		{"$RUNNER_OUT/x ${HOME} ${env.X} $", nil},
		{"${params.x}", []string{"${params.x}"}},
		{"a${params.x}b${datasets.y}/c", []string{"${params.x}", "${datasets.y}"}},
		{"${params.x", nil},
		{"${${params.x}}", []string{"${params.x}"}},
		{"$${stages.a.outputs.b}", []string{"${stages.a.outputs.b}"}},
		{"${paramsx}${params.}", []string{"${params.}"}},
	}
	for _, tc := range tests {
		var got []string
		for _, r := range findRefs(tc.in) {
			if tc.in[r.start:r.end] != r.text {
				t.Errorf("%q: offsets %d:%d do not hold %q", tc.in, r.start, r.end, r.text)
			}
			got = append(got, r.text)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("findRefs(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}
