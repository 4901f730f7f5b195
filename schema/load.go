package schema

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/nnrunner/nnrunner/pipeline/dag"
	"github.com/nnrunner/nnrunner/pipeline/stage"
	"github.com/nnrunner/nnrunner/pipeline/workspace"
	"gopkg.in/yaml.v3"
)

// Options control Load.
type Options struct {
	// Registry resolves stage types.
	Registry *stage.Registry
	// Set holds command-line overrides "params.NAME=VALUE" or
	// "datasets.NAME=PATH"; VALUE is read as a YAML scalar.
	Set []string
}

// Load reads, interpolates and validates the workflow file at path. Problems
// in the file are returned as Errors.
func Load(filename string, opts Options) (*Workflow, error) {
	abs, err := filepath.Abs(filename)
	if err != nil {
		return nil, fmt.Errorf("workflow %s: %w", filename, err)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("read workflow: %w", err)
	}
	return Parse(abs, data, opts)
}

// Parse is Load on the contents of the file at the absolute path filename.
func Parse(filename string, data []byte, opts Options) (*Workflow, error) {
	if opts.Registry == nil {
		return nil, errors.New("schema: no stage registry")
	}
	errs := &errorList{file: filename}
	f := parse(data, errs)
	if f == nil || len(errs.errs) > 0 {
		return nil, errs.err()
	}
	l := &loader{f: f, opts: opts, errs: errs, wf: &Workflow{
		File:      filename,
		Dir:       filepath.Dir(filename),
		Name:      f.name,
		Params:    f.params,
		Datasets:  map[string]string{},
		byID:      map[string]*Stage{},
		SlurmPoll: f.slurm.PollInterval,
	}}
	if l.wf.SlurmPoll == 0 {
		l.wf.SlurmPoll = DefaultSlurmPoll
	}
	l.applySet()
	l.resolveWorkspace()
	l.resolveDatasets()
	l.declareStages()
	if len(errs.errs) > 0 {
		return nil, errs.err()
	}
	for i, s := range l.wf.Stages {
		l.resolveStage(s, f.stages[i])
	}
	if len(errs.errs) > 0 {
		return nil, errs.err()
	}
	l.buildGraph()
	return l.wf, errs.err()
}

type loader struct {
	f      *file
	opts   Options
	errs   *errorList
	wf     *Workflow
	layout workspace.Layout
}

func (l *loader) applySet() {
	for _, kv := range l.opts.Set {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			l.errs.add(Pos{}, "--set %q: want KEY=VALUE, e.g. --set params.seed=7", kv)
			continue
		}
		section, name, ok := strings.Cut(k, ".")
		switch {
		case ok && section == "params":
			if _, known := l.f.params[name]; !known {
				l.errs.add(Pos{}, "--set %s: the workflow declares no param %q (declared: %s)", k, name, strings.Join(sortedKeys(l.f.params), ", "))
				continue
			}
			var n yaml.Node
			if err := yaml.Unmarshal([]byte(v), &n); err != nil || len(n.Content) != 1 {
				l.f.params[name] = v
				continue
			}
			val, err := nodeValue(n.Content[0])
			if err != nil {
				l.errs.add(Pos{}, "--set %s: %v", k, err)
				continue
			}
			l.f.params[name] = val
		case ok && section == "datasets":
			if _, known := l.f.datasets[name]; !known {
				l.errs.add(Pos{}, "--set %s: the workflow declares no dataset %q (declared: %s)", k, name, strings.Join(sortedKeys(l.f.datasets), ", "))
				continue
			}
			l.f.datasets[name] = v
			l.f.datasetPos[name] = Pos{}
		default:
			l.errs.add(Pos{}, "--set %s: only params.NAME and datasets.NAME can be set", k)
		}
	}
}

func (l *loader) abs(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(l.wf.Dir, p)
}

func (l *loader) resolveWorkspace() {
	ws := l.f.workspace
	if ws == "" {
		ws = ".runner"
	}
	l.wf.Workspace = l.abs(ws)
	l.layout = workspace.Layout{Root: l.wf.Workspace}
}

func (l *loader) resolveDatasets() {
	for _, name := range sortedKeys(l.f.datasets) {
		p := l.abs(l.f.datasets[name])
		l.wf.Datasets[name] = p
		fi, err := os.Stat(p)
		switch {
		case err != nil:
			l.errs.add(l.f.datasetPos[name], "dataset %s: folder %s does not exist (relative paths resolve against %s); fix the path or create the dataset", name, p, l.wf.Dir)
		case !fi.IsDir():
			l.errs.add(l.f.datasetPos[name], "dataset %s: %s is not a folder; a dataset is a folder (nnU-Net raw: imagesTr, labelsTr, dataset.json)", name, p)
		case within(l.wf.Workspace, p):
			l.errs.add(l.f.datasetPos[name], "dataset %s: folder %s contains the workspace %s, so every run would change it; move the workspace out (`workspace:`) or point at a subfolder", name, p, l.wf.Workspace)
		}
	}
	sort.SliceStable(l.errs.errs, func(i, j int) bool { return l.errs.errs[i].Pos.Line < l.errs.errs[j].Pos.Line })
}

// declareStages resolves each stage's type, key view and outputs.
func (l *loader) declareStages() {
	for _, d := range l.f.stages {
		impl, ok := l.opts.Registry.Lookup(d.typ)
		if !ok {
			if d.typ != "" {
				l.errs.add(d.typePos, "stage %s: unknown stage type %q; known types: %s", d.id, d.typ, strings.Join(l.opts.Registry.Types(), ", "))
			}
			continue
		}
		s := &Stage{
			ID:        d.id,
			Type:      d.typ,
			Impl:      impl,
			Spec:      impl.Spec(),
			Needs:     d.needs,
			Resources: d.resources,
			Executor:  d.executor,
			Retries:   d.retries,
			Pos:       d.pos,
		}
		if !d.hasCPUs {
			s.Resources.CPUs = 1
		}
		execPos := d.execPos
		if !d.hasExec && l.f.executor != "" {
			s.Executor, execPos = l.f.executor, l.f.execPos
		}
		if !contains(Executors, s.Executor) {
			l.errs.add(execPos, "stage %s: unknown executor %q; use one of %s", d.id, s.Executor, strings.Join(Executors, ", "))
		}
		if s.Executor == "slurm" {
			s.Slurm = l.f.slurm.merge(d.slurm)
		}
		s.KeyWith = l.resolveWith(s, d, false)
		if s.KeyWith != nil {
			outs, err := impl.Outputs(s.KeyWith)
			if err != nil {
				l.errs.add(d.pos, "stage %s: %v", d.id, err)
			}
			for _, o := range outs {
				if o.Path == "" || path.IsAbs(o.Path) || path.Clean(o.Path) != o.Path || strings.HasPrefix(o.Path, "../") || o.Path == ".." {
					l.errs.add(d.pos, "stage %s: output %s has path %q; use a clean relative path inside the output folder", d.id, o.Name, o.Path)
				}
			}
			s.Outputs = outs
		}
		l.wf.Stages = append(l.wf.Stages, s)
		l.wf.byID[s.ID] = s
	}
}

// resolveStage interpolates every reference of s (the run view), checks the
// references and records inputs and dependencies.
func (l *loader) resolveStage(s *Stage, d *stageDecl) {
	s.With = l.resolveWith(s, d, true)
	if s.With == nil {
		return // the errors are reported
	}
	deps := map[string]bool{}
	for i, n := range d.needs {
		if _, ok := l.wf.byID[n]; !ok {
			l.errs.add(d.needsPos[i], "stage %s: needs unknown stage %q; stages: %s", s.ID, n, strings.Join(l.stageIDs(), ", "))
			continue
		}
		deps[n] = true
	}
	seen := map[string]bool{}
	for _, name := range sortedKeys(d.with) {
		for _, r := range refsIn(d.with[name]) {
			switch r.kind {
			case "datasets":
				in := Input{Name: "datasets." + r.name, Kind: DatasetInput, Path: l.wf.Datasets[r.name]}
				if !seen[in.Name] {
					seen[in.Name] = true
					s.Inputs = append(s.Inputs, in)
				}
			case "stages":
				up := l.wf.byID[r.name]
				o, _ := findOutput(up.Outputs, r.output)
				in := Input{Name: "stages." + r.name + ".outputs." + r.output, Kind: OutputInput,
					Path: l.layout.OutputPath(r.name, o.Path), Stage: r.name, Output: r.output}
				if !seen[in.Name] {
					seen[in.Name] = true
					s.Inputs = append(s.Inputs, in)
				}
				deps[r.name] = true
			}
		}
	}
	for _, p := range s.Spec.Params {
		raw, ok := d.with[p.Name]
		if !ok || (p.Kind != stage.Path && p.Kind != stage.Paths) {
			continue
		}
		resolved := s.With[p.Name]
		switch p.Kind {
		case stage.Path:
			if str, isStr := raw.(string); isStr && !hasStageOrDatasetRef(str) {
				s.Inputs = append(s.Inputs, Input{Name: "with." + p.Name, Kind: PathInput, Path: resolved.(string)})
			}
		case stage.Paths:
			rawList, _ := raw.([]any)
			if str, isStr := raw.(string); isStr {
				rawList = []any{str}
			}
			list, _ := resolved.([]any)
			for i, e := range rawList {
				if str, isStr := e.(string); isStr && !hasStageOrDatasetRef(str) && i < len(list) {
					s.Inputs = append(s.Inputs, Input{Name: fmt.Sprintf("with.%s[%d]", p.Name, i), Kind: PathInput, Path: list[i].(string)})
				}
			}
		}
	}
	for _, in := range s.Inputs {
		if in.Kind == PathInput && within(l.wf.Workspace, in.Path) {
			l.errs.add(d.withPos[strings.SplitN(strings.TrimPrefix(in.Name, "with."), "[", 2)[0]],
				"stage %s: input %s (%s) contains the workspace %s, so every run would change it; move the workspace out (`workspace:`) or name a subfolder", s.ID, in.Name, in.Path, l.wf.Workspace)
		}
	}
	for _, p := range s.Spec.Params {
		if p.Kind == stage.Env && s.With != nil {
			if env, err := s.With.Strings(p.Name); err == nil {
				s.Env = env
			}
		}
	}
	for dep := range deps {
		s.Deps = append(s.Deps, dep)
	}
	sort.Strings(s.Deps)
}

func (l *loader) buildGraph() {
	ids := make([]string, len(l.wf.Stages))
	deps := make(map[string][]string, len(l.wf.Stages))
	for i, s := range l.wf.Stages {
		ids[i] = s.ID
		deps[s.ID] = s.Deps
	}
	g, err := dag.New(ids, deps)
	var cycle *dag.CycleError
	switch {
	case errors.As(err, &cycle):
		first := l.wf.byID[cycle.Cycle[0]]
		l.errs.add(first.Pos, "%v (each arrow reads \"uses\"); remove one of these references or needs", err)
	case err != nil:
		l.errs.add(Pos{}, "%v", err)
	}
	l.wf.Graph = g
}

func (l *loader) stageIDs() []string {
	out := make([]string, len(l.f.stages))
	for i, d := range l.f.stages {
		out[i] = d.id
	}
	return out
}

// within reports whether path is dir or lies inside it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

func refsIn(v any) []ref {
	var out []ref
	switch x := v.(type) {
	case string:
		out = findRefs(x)
	case []any:
		for _, e := range x {
			out = append(out, refsIn(e)...)
		}
	case map[string]any:
		for _, k := range sortedKeys(x) {
			out = append(out, refsIn(x[k])...)
		}
	}
	return out
}

func findOutput(outs []stage.Output, name string) (stage.Output, bool) {
	for _, o := range outs {
		if o.Name == name {
			return o, true
		}
	}
	return stage.Output{}, false
}

// resolveWith checks d's `with` against the stage's params, applies
// defaults and interpolates references: all of them when full is true (the
// run view), else only params (the key view). It returns nil after errors.
func (l *loader) resolveWith(s *Stage, d *stageDecl, full bool) stage.Values {
	params := map[string]stage.Param{}
	var names []string
	for _, p := range s.Spec.Params {
		params[p.Name] = p
		names = append(names, p.Name)
	}
	out := stage.Values{}
	ok := true
	for _, k := range sortedKeys(d.with) {
		p, known := params[k]
		if !known {
			if !full {
				l.errs.add(d.withKeyAt[k], "stage %s (type %s): unknown parameter %q; parameters of %s: %s", s.ID, s.Type, k, s.Type, strings.Join(names, ", "))
			}
			ok = false
			continue
		}
		raw := d.with[k]
		if raw == nil {
			continue
		}
		v, err := interpolate(raw, l.resolver(full))
		if err != nil {
			if full {
				l.errs.add(d.withPos[k], "stage %s: with.%s: %v", s.ID, k, err)
			}
			ok = false
			continue
		}
		v, err = l.checkKind(p, v, full)
		if err != nil {
			if full {
				l.errs.add(d.withPos[k], "stage %s (type %s): with.%s: %v", s.ID, s.Type, k, err)
			}
			ok = false
			continue
		}
		out[k] = v
	}
	for _, p := range s.Spec.Params {
		if out.Has(p.Name) || d.with[p.Name] != nil {
			continue
		}
		if p.Required {
			if !full {
				l.errs.add(d.pos, "stage %s (type %s): missing required parameter %q (%s): %s", s.ID, s.Type, p.Name, p.Kind, p.Doc)
			}
			ok = false
			continue
		}
		if p.Default != nil {
			v, err := l.checkKind(p, p.Default, full)
			if err != nil {
				l.errs.add(d.pos, "stage %s: default of %s: %v", s.ID, p.Name, err)
				ok = false
				continue
			}
			out[p.Name] = v
		}
	}
	if !ok {
		return nil
	}
	return out
}

// resolver returns the reference resolver of the run view (full) or the
// key view.
func (l *loader) resolver(full bool) resolveFunc {
	return func(r ref) (any, bool, error) {
		switch r.kind {
		case "params":
			v, ok := l.f.params[r.name]
			if !ok {
				return nil, false, fmt.Errorf("unknown reference %s; declared params: %s", r.text, strings.Join(sortedKeys(l.f.params), ", "))
			}
			return v, true, nil
		case "datasets":
			p, ok := l.wf.Datasets[r.name]
			if !ok {
				return nil, false, fmt.Errorf("unknown reference %s; declared datasets: %s", r.text, strings.Join(sortedKeys(l.wf.Datasets), ", "))
			}
			return p, full, nil
		default:
			if r.badForm {
				return nil, false, fmt.Errorf("reference %s: write stage outputs as ${stages.ID.outputs.NAME}", r.text)
			}
			if !full {
				return nil, false, nil
			}
			up, ok := l.wf.byID[r.name]
			if !ok {
				return nil, false, fmt.Errorf("unknown reference %s: no stage %q; stages: %s", r.text, r.name, strings.Join(l.stageIDs(), ", "))
			}
			if up.KeyWith == nil {
				// The upstream stage has its own errors; its outputs are
				// unknown, so say nothing more here.
				return "", true, nil
			}
			o, ok := findOutput(up.Outputs, r.output)
			if !ok {
				var names []string
				for _, o := range up.Outputs {
					names = append(names, o.Name)
				}
				return nil, false, fmt.Errorf("unknown reference %s: stage %s has no output %q; its outputs: %s", r.text, r.name, r.output, strings.Join(names, ", "))
			}
			return l.layout.OutputPath(r.name, o.Path), true, nil
		}
	}
}

// checkKind checks v against p's kind and normalises it: integers to int64,
// numbers to float64, single strings to lists for list kinds, and (in the
// run view) paths to absolute paths.
func (l *loader) checkKind(p stage.Param, v any, full bool) (any, error) {
	switch p.Kind {
	case stage.String:
		s, ok := v.(string)
		if !ok {
			if s, ok = scalarString(v); !ok {
				return nil, fmt.Errorf("want a string, got %s", describe(v))
			}
		}
		if len(p.Enum) > 0 && !contains(p.Enum, s) && !(!full && len(findRefs(s)) > 0) {
			return nil, fmt.Errorf("%q is not one of %s", s, strings.Join(p.Enum, ", "))
		}
		return s, nil
	case stage.Int:
		switch n := v.(type) {
		case int64:
			return n, nil
		case int:
			return int64(n), nil
		case float64:
			if n == float64(int64(n)) {
				return int64(n), nil
			}
		}
		return nil, fmt.Errorf("want an integer, got %s", describe(v))
	case stage.Float:
		switch n := v.(type) {
		case float64:
			return n, nil
		case int64:
			return float64(n), nil
		case int:
			return float64(n), nil
		}
		return nil, fmt.Errorf("want a number, got %s", describe(v))
	case stage.Bool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, fmt.Errorf("want true or false, got %s", describe(v))
	case stage.Path:
		s, ok := v.(string)
		if !ok || s == "" {
			return nil, fmt.Errorf("want a path, got %s", describe(v))
		}
		if full {
			return l.abs(s), nil
		}
		return s, nil
	case stage.Paths, stage.Strings, stage.Env:
		list, ok := v.([]any)
		if s, isStr := v.(string); isStr {
			list, ok = []any{s}, true
		}
		if !ok {
			return nil, fmt.Errorf("want a list of %ss, got %s", map[bool]string{true: "path", false: "string"}[p.Kind == stage.Paths], describe(v))
		}
		out := make([]any, len(list))
		for i, e := range list {
			s, ok := e.(string)
			if !ok && p.Kind == stage.Strings {
				s, ok = scalarString(e)
			}
			if !ok {
				return nil, fmt.Errorf("item %d: want a string, got %s", i, describe(e))
			}
			if p.Kind == stage.Paths && full {
				s = l.abs(s)
			}
			out[i] = s
		}
		return out, nil
	case stage.Ints:
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("want a list of integers, got %s", describe(v))
		}
		out := make([]any, len(list))
		for i, e := range list {
			n, err := l.checkKind(stage.Param{Kind: stage.Int}, e, full)
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			out[i] = n
		}
		return out, nil
	case stage.Object:
		if _, ok := v.(map[string]any); !ok {
			return nil, fmt.Errorf("want a mapping, got %s", describe(v))
		}
		return v, nil
	case stage.Any:
		return v, nil
	}
	return nil, fmt.Errorf("stage declares unknown parameter kind %q", p.Kind)
}

// scalarString formats a number or boolean where a string is expected
// (`argv: [seq, 1, 10]`, or a whole-value `${params.n}` reference).
func scalarString(v any) (string, bool) {
	switch v.(type) {
	case int64, float64, bool:
		s, err := scalarText(v)
		return s, err == nil
	}
	return "", false
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("the string %q", x)
	case int64, int:
		return fmt.Sprintf("the integer %v", x)
	case float64:
		return fmt.Sprintf("the number %v", x)
	case bool:
		return fmt.Sprintf("%v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}
