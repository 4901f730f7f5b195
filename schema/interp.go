package schema

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// refPattern matches the only references the runner interpolates. Any other
// `$` text (for example `$RUNNER_OUT` or `${HOME}` in a shell command) is
// left alone.
var refPattern = regexp.MustCompile(`\$\{(datasets|params|stages)\.([^}]*)\}`)

// ref is one parsed reference.
type ref struct {
	text    string // the whole ${...}
	kind    string // datasets, params or stages
	name    string // dataset or param name, or stage id
	output  string // output name of a stages reference
	badForm bool   // a stages reference not of the form stages.ID.outputs.NAME
}

func parseRef(m []string) ref {
	r := ref{text: m[0], kind: m[1], name: m[2]}
	if r.kind == "stages" {
		parts := strings.Split(m[2], ".")
		if len(parts) != 3 || parts[1] != "outputs" || parts[0] == "" || parts[2] == "" {
			r.badForm = true
			return r
		}
		r.name, r.output = parts[0], parts[2]
	}
	return r
}

// hasStageOrDatasetRef reports whether s holds a dataset or stage-output
// reference.
func hasStageOrDatasetRef(s string) bool {
	for _, m := range refPattern.FindAllStringSubmatch(s, -1) {
		if m[1] != "params" {
			return true
		}
	}
	return false
}

// resolveFunc returns a reference's value, or ok=false to keep it as text.
type resolveFunc func(r ref) (v any, ok bool, err error)

// interpolate replaces references in every string inside v. A string that is
// exactly one reference takes the referenced value's type.
func interpolate(v any, resolve resolveFunc) (any, error) {
	switch x := v.(type) {
	case string:
		return interpolateString(x, resolve)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := interpolate(e, resolve)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := interpolate(e, resolve)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	}
	return v, nil
}

func interpolateString(s string, resolve resolveFunc) (any, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	ms := refPattern.FindAllStringSubmatchIndex(s, -1)
	if len(ms) == 0 {
		return s, nil
	}
	if len(ms) == 1 && ms[0][0] == 0 && ms[0][1] == len(s) {
		r := parseRef(refPattern.FindStringSubmatch(s))
		v, ok, err := resolve(r)
		if err != nil || !ok {
			return s, err
		}
		return v, nil
	}
	var b strings.Builder
	last := 0
	for _, m := range ms {
		b.WriteString(s[last:m[0]])
		last = m[1]
		r := parseRef(refPattern.FindStringSubmatch(s[m[0]:m[1]]))
		v, ok, err := resolve(r)
		if err != nil {
			return nil, err
		}
		if !ok {
			b.WriteString(r.text)
			continue
		}
		str, err := scalarText(v)
		if err != nil {
			return nil, fmt.Errorf("%s inside a longer string: %w", r.text, err)
		}
		b.WriteString(str)
	}
	b.WriteString(s[last:])
	return b.String(), nil
}

// scalarText formats a scalar for embedding in a string.
func scalarText(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	case nil:
		return "", fmt.Errorf("the value is null")
	}
	return "", fmt.Errorf("a %T cannot be embedded in a string; use the reference as the whole value", v)
}
