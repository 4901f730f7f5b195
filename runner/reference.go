package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/nnrunner/nnrunner/pipeline/stage"
	"github.com/nnrunner/nnrunner/schema"
)

// writeReference writes the Markdown reference of workflow files: the keys
// of the file and of a stage, taken from the JSON Schema, then every stage
// type in reg with its parameters and outputs. README.md embeds it (see
// `make docs`).
func writeReference(w io.Writer, reg *stage.Registry) error {
	raw, err := schema.JSONSchema(reg)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("decode JSON schema: %w", err)
	}
	stageSchema, _ := prop(doc, "stages")["additionalProperties"].(map[string]any)

	var b strings.Builder
	b.WriteString("### Workflow keys\n\n")
	writeKeys(&b, doc)
	b.WriteString("\n### Stage keys (`stages.<id>.…`)\n\n")
	writeKeys(&b, stageSchema)
	b.WriteString("\n### Stage types\n\n")
	b.WriteString("Parameters go in a stage's `with:` block. Outputs are files or folders inside the stage's output directory, referenced as `${stages.<id>.outputs.<name>}`; `<param>` in a path stands for that parameter's value.\n\n" +
		"Kinds: `path` and `paths` name files or folders, relative to the workflow file, whose content is part of the cache key; " +
		"`paths`, `strings` and `env` (names of environment variables whose values are part of the cache key) take one value or a list; " +
		"`ints` is a list of integers, `object` a mapping, `any` a scalar, list or mapping.\n")
	for _, t := range reg.Types() {
		s, _ := reg.Lookup(t)
		if err := writeStageType(&b, s); err != nil {
			return err
		}
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// writeKeys writes a table of the properties of the object schema s, with
// nested objects flattened to dotted names.
func writeKeys(b *strings.Builder, s map[string]any) {
	b.WriteString("| key | type | default | description |\n|---|---|---|---|\n")
	var walk func(prefix string, s map[string]any)
	walk = func(prefix string, s map[string]any) {
		props, _ := s["properties"].(map[string]any)
		required := strSlice(s["required"])
		for _, name := range sortedKeys(props) {
			p, _ := props[name].(map[string]any)
			def := "—"
			if slices.Contains(required, name) {
				def = "required"
			} else if d, ok := p["default"]; ok {
				def = code(d)
			}
			fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", prefix+name, cell(jsonType(p)), def, cell(str(p["description"])))
			if _, nested := p["properties"]; nested {
				walk(prefix+name+".", p)
			}
		}
	}
	walk("", s)
}

// jsonType describes the type of a JSON Schema fragment in words.
func jsonType(s map[string]any) string {
	if c, ok := s["const"]; ok {
		return code(c)
	}
	if e, ok := s["enum"].([]any); ok {
		return "one of " + codeList(e)
	}
	for _, k := range []string{"oneOf", "anyOf"} {
		if alts, ok := s[k].([]any); ok {
			var words []string
			for _, a := range alts {
				if m, ok := a.(map[string]any); ok {
					words = append(words, jsonType(m))
				}
			}
			return strings.Join(words, " or ")
		}
	}
	var types []string
	switch t := s["type"].(type) {
	case string:
		types = []string{t}
	case []any:
		types = strSlice(t)
	}
	var words []string
	for _, t := range types {
		switch t {
		case "array":
			item := "value"
			if it, ok := s["items"].(map[string]any); ok {
				item = jsonType(it)
			}
			if item == "string" || item == "integer" {
				item += "s"
			}
			words = append(words, "list of "+item)
		case "object":
			words = append(words, "mapping")
		default:
			words = append(words, t)
		}
	}
	if len(words) == 0 {
		return "any"
	}
	return strings.Join(words, " or ")
}

// writeStageType writes the section of one stage type.
func writeStageType(b *strings.Builder, s stage.Stage) error {
	spec := s.Spec()
	fmt.Fprintf(b, "\n#### `%s`\n\n%s\n\nImplementation version %d (part of the cache key).", spec.Type, cell(spec.Doc), spec.Version)
	if spec.Resume {
		b.WriteString(" Resumable: a failed attempt's files are kept and the next attempt with the same cache key continues from them.")
	}
	b.WriteString("\n\n")
	if len(spec.Params) > 0 {
		b.WriteString("| parameter | kind | default | description |\n|---|---|---|---|\n")
		for _, p := range spec.Params {
			kind := string(p.Kind)
			if len(p.Enum) > 0 {
				kind += ": one of " + codeList(p.Enum)
			}
			def := "—"
			if p.Required {
				def = "required"
			} else if p.Default != nil {
				def = code(p.Default)
			}
			fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", p.Name, cell(kind), def, cell(p.Doc))
		}
		b.WriteString("\n")
	}
	outs, unknown, err := probeOutputs(s)
	if err != nil {
		if len(unknown) == 0 {
			return fmt.Errorf("stage type %s: outputs with default parameters: %w", spec.Type, err)
		}
		fmt.Fprintf(b, "Outputs: depend on %s (see above).\n", codeList(unknown))
		return nil
	}
	b.WriteString("| output | path | description |\n|---|---|---|\n")
	for _, o := range outs {
		fmt.Fprintf(b, "| `%s` | `%s` | %s |\n", o.Name, o.Path, cell(o.Doc))
	}
	return nil
}

// probeOutputs calls s.Outputs with the parameters' defaults and a
// stand-in "<name>" for each required string or path parameter, then tries
// the stand-in for each optional one with a default, so that output paths
// show which parameter they depend on. When Outputs fails, unknown lists
// the required parameters that had no stand-in.
func probeOutputs(s stage.Stage) (outs []stage.Output, unknown []string, err error) {
	spec := s.Spec()
	with := stage.Values{}
	var optional []stage.Param
	for _, p := range spec.Params {
		switch {
		case !p.Required:
			if p.Default != nil {
				with[p.Name] = p.Default
				optional = append(optional, p)
			}
		case standIn(p) != nil:
			with[p.Name] = standIn(p)
		default:
			unknown = append(unknown, p.Name)
		}
	}
	if outs, err = s.Outputs(with); err != nil {
		return nil, unknown, err
	}
	for _, p := range optional {
		if standIn(p) == nil {
			continue
		}
		with[p.Name] = standIn(p)
		if o, err := s.Outputs(with); err == nil {
			outs = o
		} else {
			with[p.Name] = p.Default
		}
	}
	return outs, unknown, nil
}

// standIn returns the stand-in value of a free-form string or path
// parameter, or nil.
func standIn(p stage.Param) any {
	v := "<" + p.Name + ">"
	switch {
	case len(p.Enum) > 0:
		return nil
	case p.Kind == stage.String || p.Kind == stage.Path:
		return v
	case p.Kind == stage.Strings || p.Kind == stage.Paths:
		return []any{v}
	}
	return nil
}

// code formats a value as inline code: strings as written, other values as
// JSON (which is YAML).
func code(v any) string {
	if s, ok := v.(string); ok {
		if s == "" {
			return "`\"\"`"
		}
		return "`" + s + "`"
	}
	j, err := json.Marshal(v)
	if err != nil {
		return cell(fmt.Sprint(v))
	}
	return "`" + string(j) + "`"
}

func codeList[T any](vs []T) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = code(v)
	}
	return strings.Join(out, ", ")
}

// cell makes the plain text s one line of Markdown that is safe inside a
// table cell: "<case>" stays text instead of becoming an HTML tag.
func cell(s string) string {
	return cellEscaper.Replace(strings.Join(strings.Fields(s), " "))
}

var cellEscaper = strings.NewReplacer("|", `\|`, "<", "&lt;")

func prop(s map[string]any, name string) map[string]any {
	props, _ := s["properties"].(map[string]any)
	p, _ := props[name].(map[string]any)
	return p
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func strSlice(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
