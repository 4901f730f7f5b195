package schema

import (
	"encoding/json"
	"fmt"

	"github.com/nnrunner/nnrunner/pipeline/stage"
)

// JSONSchema returns a JSON Schema (draft 2020-12) of workflow files with
// the `with` block of every stage type in reg, for editors' YAML language
// servers.
func JSONSchema(reg *stage.Registry) ([]byte, error) {
	var typeRules []any
	for _, t := range reg.Types() {
		s, _ := reg.Lookup(t)
		spec := s.Spec()
		props := map[string]any{}
		var required []string
		for _, p := range spec.Params {
			props[p.Name] = paramSchema(p)
			if p.Required {
				required = append(required, p.Name)
			}
		}
		with := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		if len(required) > 0 {
			with["required"] = required
		}
		typeRules = append(typeRules, map[string]any{
			"if":   map[string]any{"properties": map[string]any{"type": map[string]any{"const": t}}},
			"then": map[string]any{"properties": map[string]any{"with": with}},
		})
	}
	stageSchema := map[string]any{
		"type":                 "object",
		"required":             []string{"type"},
		"additionalProperties": false,
		"properties": map[string]any{
			"type": map[string]any{"enum": reg.Types(), "description": "stage type"},
			"with": map[string]any{"type": "object", "description": "parameters of the stage type (see its table); ${...} references are interpolated"},
			"needs": map[string]any{
				"oneOf": []any{
					map[string]any{"type": "string"},
					map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
				},
				"description": "id (or list of ids) of stages that must finish first, besides those referenced in with",
			},
			"executor": map[string]any{"enum": Executors, "description": "where the stage runs (default: the workflow's executor, else local)"},
			"slurm":    slurmJSONSchema(false),
			"retries":  map[string]any{"type": "integer", "minimum": 0, "default": 0, "description": "further attempts after a failed run"},
			"resources": map[string]any{
				"type":                 "object",
				"additionalProperties": false,
				"description":          "what the stage needs while it runs; local stages start only while the running ones leave enough of the machine free",
				"properties": map[string]any{
					"cpus":   map[string]any{"type": "integer", "minimum": 0, "default": 1, "description": "CPU cores; also the stage's thread count"},
					"memory": map[string]any{"type": []string{"string", "integer"}, "pattern": `^[0-9.]+\s*([KMGT]i?B?|B)?$`, "description": "memory, e.g. 8GiB"},
					"gpus":   map[string]any{"type": "integer", "minimum": 0, "default": 0, "description": "GPUs"},
				},
			},
		},
		"allOf": typeRules,
	}
	doc := map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"$id":                  "https://github.com/nnrunner/nnrunner/workflow.schema.json",
		"title":                "nnrunner workflow",
		"type":                 "object",
		"required":             []string{"version", "stages"},
		"additionalProperties": false,
		"properties": map[string]any{
			"version":   map[string]any{"const": FileVersion, "description": "workflow file format version"},
			"executor":  map[string]any{"enum": Executors, "default": "local", "description": "default executor of the stages"},
			"slurm":     slurmJSONSchema(true),
			"name":      map[string]any{"type": "string", "description": "name of the workflow (the title of `runner graph --format dot`)"},
			"workspace": map[string]any{"type": "string", "default": ".runner", "description": "cache, run records and stage outputs; relative to the workflow file"},
			"params":    map[string]any{"type": "object", "description": "values referenced as ${params.NAME}"},
			"datasets": map[string]any{
				"type":                 "object",
				"additionalProperties": map[string]any{"type": "string"},
				"description":          "dataset folders referenced as ${datasets.NAME}",
			},
			"stages": map[string]any{
				"type":                 "object",
				"propertyNames":        map[string]any{"pattern": idPattern.String()},
				"description":          "the stages by id (a letter or _, then letters, digits, _ or -)",
				"additionalProperties": stageSchema,
			},
		},
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode JSON schema: %w", err)
	}
	return append(out, '\n'), nil
}

func paramSchema(p stage.Param) map[string]any {
	var s map[string]any
	str := map[string]any{"type": "string"}
	switch p.Kind {
	case stage.String:
		s = map[string]any{"type": "string"}
		if len(p.Enum) > 0 {
			s["enum"] = p.Enum
		}
	case stage.Int:
		s = map[string]any{"type": "integer"}
	case stage.Float:
		s = map[string]any{"type": "number"}
	case stage.Bool:
		s = map[string]any{"type": "boolean"}
	case stage.Path:
		s = map[string]any{"type": "string"}
	case stage.Paths, stage.Strings, stage.Env:
		s = map[string]any{"oneOf": []any{str, map[string]any{"type": "array", "items": str}}}
	case stage.Ints:
		s = map[string]any{"type": "array", "items": map[string]any{"type": "integer"}}
	case stage.Object:
		s = map[string]any{"type": "object"}
	default:
		s = map[string]any{}
	}
	if p.Kind != stage.String && p.Kind != stage.Path && p.Kind != stage.Paths && p.Kind != stage.Strings && p.Kind != stage.Env && p.Kind != stage.Any {
		// A ${params.X} reference is a string in the file even where the
		// resolved value is a number or a mapping.
		s = map[string]any{"anyOf": []any{s, map[string]any{"type": "string", "pattern": `^\$\{params\.[^}]+\}$`}}}
	}
	if p.Doc != "" {
		s["description"] = p.Doc
	}
	if p.Default != nil {
		s["default"] = p.Default
	}
	return s
}
