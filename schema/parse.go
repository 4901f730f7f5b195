package schema

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// file is the syntax tree of a workflow file, values decoded, positions kept.
type file struct {
	version     int
	versionPos  Pos
	name        string
	workspace   string
	params      map[string]any
	paramPos    map[string]Pos
	datasets    map[string]string
	datasetPos  map[string]Pos
	stages      []*stageDecl
	stagesPos   Pos
	hasVersion  bool
	hasWorkPath bool
	// executor is the workflow's default executor ("" when not given) and
	// slurm its `slurm:` block.
	executor string
	execPos  Pos
	slurm    SlurmOptions
}

// stageDecl is one stage as written.
type stageDecl struct {
	id        string
	pos       Pos
	typ       string
	typePos   Pos
	with      map[string]any
	withPos   map[string]Pos // position of each key's value
	withKeyAt map[string]Pos // position of each key
	needs     []string
	needsPos  []Pos
	resources Resources
	hasCPUs   bool
	executor  string
	execPos   Pos
	hasExec   bool
	slurm     SlurmOptions
	retries   int
}

var idPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

func pos(n *yaml.Node) Pos { return Pos{Line: n.Line, Col: n.Column} }

// parse decodes data strictly. Every problem is collected into errs.
func parse(data []byte, errs *errorList) *file {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		errs.add(Pos{}, "invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		return nil
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		errs.add(Pos{}, "the file is empty; a workflow needs at least `version: 1` and `stages:`")
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		errs.add(pos(root), "a workflow is a mapping with keys version, name, workspace, params, datasets, stages")
		return nil
	}
	f := &file{
		params:     map[string]any{},
		paramPos:   map[string]Pos{},
		datasets:   map[string]string{},
		datasetPos: map[string]Pos{},
	}
	forEachKey(root, errs, "workflow", []string{"version", "name", "workspace", "params", "datasets", "stages", "executor", "slurm"}, func(k string, kn, v *yaml.Node) {
		switch k {
		case "executor":
			f.execPos = pos(v)
			f.executor, _ = stringValue(v, errs, "executor")
		case "slurm":
			f.slurm = parseSlurm(v, "slurm", true, errs)
		case "version":
			f.hasVersion = true
			f.versionPos = pos(v)
			n, ok := intValue(v)
			if !ok {
				errs.add(pos(v), "version must be an integer; use `version: %d`", FileVersion)
				return
			}
			f.version = n
		case "name":
			f.name, _ = stringValue(v, errs, "name")
		case "workspace":
			f.hasWorkPath = true
			f.workspace, _ = stringValue(v, errs, "workspace")
		case "params":
			forEachKey(v, errs, "params", nil, func(name string, _, pv *yaml.Node) {
				val, err := nodeValue(pv)
				if err != nil {
					errs.add(pos(pv), "params.%s: %v", name, err)
					return
				}
				f.params[name] = val
				f.paramPos[name] = pos(pv)
			})
		case "datasets":
			forEachKey(v, errs, "datasets", nil, func(name string, kn, dv *yaml.Node) {
				if !idPattern.MatchString(name) {
					errs.add(pos(kn), "dataset name %q: use letters, digits, '_' and '-'", name)
				}
				p, ok := stringValue(dv, errs, "datasets."+name)
				if !ok {
					return
				}
				f.datasets[name] = p
				f.datasetPos[name] = pos(dv)
			})
		case "stages":
			f.stagesPos = pos(v)
			forEachKey(v, errs, "stages", nil, func(id string, kn, sv *yaml.Node) {
				if !idPattern.MatchString(id) {
					errs.add(pos(kn), "stage id %q: use letters, digits, '_' and '-', starting with a letter or '_'", id)
					return
				}
				f.stages = append(f.stages, parseStage(id, kn, sv, errs))
			})
		}
	})
	if !f.hasVersion {
		errs.add(pos(root), "missing `version: %d`", FileVersion)
	} else if f.version != FileVersion && len(errs.errs) == 0 {
		errs.add(f.versionPos, "unsupported version %d; this runner reads `version: %d`", f.version, FileVersion)
	}
	return f
}

func parseStage(id string, kn, n *yaml.Node, errs *errorList) *stageDecl {
	s := &stageDecl{
		id:        id,
		pos:       pos(kn),
		with:      map[string]any{},
		withPos:   map[string]Pos{},
		withKeyAt: map[string]Pos{},
		executor:  "local",
	}
	hasType := false
	forEachKey(n, errs, "stage "+id, []string{"type", "with", "needs", "resources", "executor", "slurm", "retries"}, func(k string, _, v *yaml.Node) {
		switch k {
		case "type":
			hasType = true
			s.typePos = pos(v)
			s.typ, _ = stringValue(v, errs, "stages."+id+".type")
		case "with":
			forEachKey(v, errs, "stages."+id+".with", nil, func(name string, wk, wv *yaml.Node) {
				val, err := nodeValue(wv)
				if err != nil {
					errs.add(pos(wv), "stages.%s.with.%s: %v", id, name, err)
					return
				}
				s.with[name] = val
				s.withPos[name] = pos(wv)
				s.withKeyAt[name] = pos(wk)
			})
		case "needs":
			if v.Kind == yaml.ScalarNode {
				if d, ok := stringValue(v, errs, "stages."+id+".needs"); ok {
					s.needs, s.needsPos = []string{d}, []Pos{pos(v)}
				}
				return
			}
			if v.Kind != yaml.SequenceNode {
				errs.add(pos(v), "stages.%s.needs must be a list of stage ids", id)
				return
			}
			for _, e := range v.Content {
				if d, ok := stringValue(e, errs, "stages."+id+".needs"); ok {
					s.needs = append(s.needs, d)
					s.needsPos = append(s.needsPos, pos(e))
				}
			}
		case "resources":
			forEachKey(v, errs, "stages."+id+".resources", []string{"cpus", "memory", "gpus"}, func(r string, _, rv *yaml.Node) {
				switch r {
				case "cpus", "gpus":
					n, ok := intValue(rv)
					if !ok || n < 0 {
						errs.add(pos(rv), "stages.%s.resources.%s must be a non-negative integer", id, r)
						return
					}
					if r == "cpus" {
						s.resources.CPUs, s.hasCPUs = n, true
					} else {
						s.resources.GPUs = n
					}
				case "memory":
					size, err := ParseSize(rv.Value)
					if rv.Kind != yaml.ScalarNode || err != nil {
						errs.add(pos(rv), "stages.%s.resources.memory: want a size such as 512MiB or 8GiB", id)
						return
					}
					s.resources.Memory = size
				}
			})
		case "executor":
			s.execPos = pos(v)
			s.executor, _ = stringValue(v, errs, "stages."+id+".executor")
			s.hasExec = true
		case "slurm":
			s.slurm = parseSlurm(v, "stages."+id+".slurm", false, errs)
		case "retries":
			r, ok := intValue(v)
			if !ok || r < 0 {
				errs.add(pos(v), "stages.%s.retries must be a non-negative integer", id)
				return
			}
			s.retries = r
		}
	})
	if !hasType {
		errs.add(s.pos, "stage %s has no `type:`", id)
	}
	return s
}

// forEachKey walks a mapping node in order. Duplicate keys are errors, and
// when allowed is non-nil so are keys outside it.
func forEachKey(n *yaml.Node, errs *errorList, what string, allowed []string, fn func(key string, kn, v *yaml.Node)) {
	n = deref(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return
	}
	if n.Kind != yaml.MappingNode {
		errs.add(pos(n), "%s must be a mapping", what)
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, v := n.Content[i], deref(n.Content[i+1])
		k := kn.Value
		if seen[k] {
			errs.add(pos(kn), "%s: duplicate key %q", what, k)
			continue
		}
		seen[k] = true
		if allowed != nil && !contains(allowed, k) {
			errs.add(pos(kn), "%s: unknown key %q; allowed keys: %s", what, k, strings.Join(allowed, ", "))
			continue
		}
		fn(k, kn, v)
	}
}

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func intValue(n *yaml.Node) (int, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		return 0, false
	}
	var v int
	if err := n.Decode(&v); err != nil {
		return 0, false
	}
	return v, true
}

func stringValue(n *yaml.Node, errs *errorList, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		errs.add(pos(n), "%s must be a string", what)
		return "", false
	}
	return n.Value, true
}

// nodeValue converts a YAML node to string, bool, int64, float64, nil,
// []any or map[string]any.
func nodeValue(n *yaml.Node) (any, error) {
	n = deref(n)
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return n.Value, nil
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			err := n.Decode(&b)
			return b, err
		case "!!int":
			var i int64
			err := n.Decode(&i)
			return i, err
		case "!!float":
			var f float64
			err := n.Decode(&f)
			return f, err
		}
		return nil, fmt.Errorf("unsupported scalar tag %s", n.ShortTag())
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, e := range n.Content {
			v, err := nodeValue(e)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: mapping keys must be strings", k.Line)
			}
			if _, dup := out[k.Value]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
			}
			v, err := nodeValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			out[k.Value] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported YAML node")
}

// ParseSize parses a byte size such as 1024, 512MiB, 8GiB, 2GB or 10G
// (binary and decimal suffixes; a bare K/M/G/T is binary).
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.TrimSpace(s[i:])
	var mult float64
	switch strings.ToLower(unit) {
	case "", "b":
		mult = 1
	case "k", "kib":
		mult = 1 << 10
	case "m", "mib":
		mult = 1 << 20
	case "g", "gib":
		mult = 1 << 30
	case "t", "tib":
		mult = 1 << 40
	case "kb":
		mult = 1e3
	case "mb":
		mult = 1e6
	case "gb":
		mult = 1e9
	case "tb":
		mult = 1e12
	default:
		return 0, fmt.Errorf("size %q: unknown unit %q (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)", s, unit)
	}
	var f float64
	if _, err := fmt.Sscanf(num, "%g", &f); err != nil || num == "" {
		return 0, fmt.Errorf("size %q: want a number followed by a unit, e.g. 8GiB", s)
	}
	return int64(f * mult), nil
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
