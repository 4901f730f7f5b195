package schema

import (
	"fmt"
	"strconv"
	"strings"
)

// A reference is `${KIND.REST}` with KIND one of refKinds and REST free of
// '}'. These are the only references the runner interpolates: any other `$`
// text (for example `$RUNNER_OUT` or `${HOME}` in a shell command) is left
// alone.
var refKinds = []string{"datasets", "params", "stages"}

// ref is one parsed reference.
type ref struct {
	start, end int    // byte offsets of the whole ${...} in its string
	text       string // the whole ${...}
	kind       string // datasets, params or stages
	name       string // dataset or param name, or stage id
	output     string // output name of a stages reference
	badForm    bool   // a stages reference not of the form stages.ID.outputs.NAME
}

// findRefs returns the references in s, left to right (a hand-written
// scanner: workflow loading calls it for every string, and regexp
// dominated the load time of large workflows).
func findRefs(s string) []ref {
	var out []ref
	for i := 0; i+1 < len(s); {
		j := strings.Index(s[i:], "${")
		if j < 0 {
			break
		}
		start := i + j
		body := s[start+2:]
		matched := false
		for _, kind := range refKinds {
			if !strings.HasPrefix(body, kind+".") {
				continue
			}
			closing := strings.IndexByte(body, '}')
			if closing < 0 {
				break
			}
			end := start + 2 + closing + 1
			out = append(out, parseRef(start, end, s[start:end], kind, body[len(kind)+1:closing]))
			i, matched = end, true
			break
		}
		if !matched {
			i = start + 1
		}
	}
	return out
}

func parseRef(start, end int, text, kind, rest string) ref {
	r := ref{start: start, end: end, text: text, kind: kind, name: rest}
	if kind == "stages" {
		parts := strings.Split(rest, ".")
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
	for _, r := range findRefs(s) {
		if r.kind != "params" {
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
	refs := findRefs(s)
	if len(refs) == 0 {
		return s, nil
	}
	if len(refs) == 1 && refs[0].start == 0 && refs[0].end == len(s) {
		v, ok, err := resolve(refs[0])
		if err != nil || !ok {
			return s, err
		}
		return v, nil
	}
	var b strings.Builder
	last := 0
	for _, r := range refs {
		b.WriteString(s[last:r.start])
		last = r.end
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
