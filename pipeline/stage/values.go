package stage

import (
	"fmt"
	"math"
)

// Values holds resolved `with` parameters. Scalars are string, bool, int64 or
// float64; lists are []any; mappings are map[string]any.
type Values map[string]any

// Has reports whether name is set.
func (v Values) Has(name string) bool {
	_, ok := v[name]
	return ok
}

// String returns the string parameter name.
func (v Values) String(name string) (string, error) {
	x, ok := v[name]
	if !ok {
		return "", fmt.Errorf("parameter %q is not set", name)
	}
	s, ok := x.(string)
	if !ok {
		return "", fmt.Errorf("parameter %q: want a string, got %T", name, x)
	}
	return s, nil
}

// Bool returns the boolean parameter name.
func (v Values) Bool(name string) (bool, error) {
	x, ok := v[name]
	if !ok {
		return false, fmt.Errorf("parameter %q is not set", name)
	}
	b, ok := x.(bool)
	if !ok {
		return false, fmt.Errorf("parameter %q: want true or false, got %T", name, x)
	}
	return b, nil
}

// Int returns the integer parameter name.
func (v Values) Int(name string) (int, error) {
	x, ok := v[name]
	if !ok {
		return 0, fmt.Errorf("parameter %q is not set", name)
	}
	n, err := toInt(x)
	if err != nil {
		return 0, fmt.Errorf("parameter %q: %w", name, err)
	}
	return n, nil
}

// Float returns the numeric parameter name as a float64.
func (v Values) Float(name string) (float64, error) {
	x, ok := v[name]
	if !ok {
		return 0, fmt.Errorf("parameter %q is not set", name)
	}
	switch n := x.(type) {
	case float64:
		return n, nil
	case int64:
		return float64(n), nil
	case int:
		return float64(n), nil
	}
	return 0, fmt.Errorf("parameter %q: want a number, got %T", name, x)
}

// Strings returns the list-of-strings parameter name. A single string is
// returned as a one-element list.
func (v Values) Strings(name string) ([]string, error) {
	x, ok := v[name]
	if !ok {
		return nil, fmt.Errorf("parameter %q is not set", name)
	}
	switch l := x.(type) {
	case string:
		return []string{l}, nil
	case []string:
		return l, nil
	case []any:
		out := make([]string, len(l))
		for i, e := range l {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("parameter %q[%d]: want a string, got %T", name, i, e)
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, fmt.Errorf("parameter %q: want a list of strings, got %T", name, x)
}

// Ints returns the list-of-integers parameter name.
func (v Values) Ints(name string) ([]int, error) {
	x, ok := v[name]
	if !ok {
		return nil, fmt.Errorf("parameter %q is not set", name)
	}
	l, ok := x.([]any)
	if !ok {
		return nil, fmt.Errorf("parameter %q: want a list of integers, got %T", name, x)
	}
	out := make([]int, len(l))
	for i, e := range l {
		n, err := toInt(e)
		if err != nil {
			return nil, fmt.Errorf("parameter %q[%d]: %w", name, i, err)
		}
		out[i] = n
	}
	return out, nil
}

// Object returns the mapping parameter name.
func (v Values) Object(name string) (map[string]any, error) {
	x, ok := v[name]
	if !ok {
		return nil, fmt.Errorf("parameter %q is not set", name)
	}
	m, ok := x.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("parameter %q: want a mapping, got %T", name, x)
	}
	return m, nil
}

func toInt(x any) (int, error) {
	switch n := x.(type) {
	case int64:
		return int(n), nil
	case int:
		return n, nil
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int(n), nil
		}
	}
	return 0, fmt.Errorf("want an integer, got %v (%T)", x, x)
}
