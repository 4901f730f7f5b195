package plans

import (
	"fmt"
	"math"

	"github.com/nnrunner/nnrunner/stages/pyjson"
)

// fields reads typed members of a decoded JSON object. The first error is
// kept and later reads return zero values, so a parser can read every field
// and check err once.
type fields struct {
	o     *pyjson.Object
	where string
	err   error
}

func (f *fields) fail(key, format string, args ...any) {
	if f.err == nil {
		f.err = fmt.Errorf("%s: %q: %s", f.where, key, fmt.Sprintf(format, args...))
	}
}

func (f *fields) get(key string) (any, bool) {
	if f.err != nil {
		return nil, false
	}
	v, ok := f.o.Get(key)
	if !ok {
		f.fail(key, "missing")
	}
	return v, ok
}

func (f *fields) str(key string) string {
	v, ok := f.get(key)
	if !ok {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		f.fail(key, "want a string, got %s", pyjson.TypeName(v))
	}
	return s
}

// optStr returns "" when key is absent or null.
func (f *fields) optStr(key string) string {
	if v, ok := f.o.Get(key); !ok || v == nil {
		return ""
	}
	return f.str(key)
}

func (f *fields) boolean(key string) bool {
	v, ok := f.get(key)
	if !ok {
		return false
	}
	b, ok := v.(bool)
	if !ok {
		f.fail(key, "want true or false, got %s", pyjson.TypeName(v))
	}
	return b
}

func (f *fields) integer(key string) int {
	v, ok := f.get(key)
	if !ok {
		return 0
	}
	n, err := asInt(v)
	if err != nil {
		f.fail(key, "%v", err)
	}
	return n
}

func (f *fields) object(key string) *pyjson.Object {
	v, ok := f.get(key)
	if !ok {
		return nil
	}
	o, ok := v.(*pyjson.Object)
	if !ok {
		f.fail(key, "want an object, got %s", pyjson.TypeName(v))
	}
	return o
}

// optObject returns nil when key is absent or null.
func (f *fields) optObject(key string) *pyjson.Object {
	if v, ok := f.o.Get(key); !ok || v == nil {
		return nil
	}
	return f.object(key)
}

func (f *fields) list(key string) []any {
	v, ok := f.get(key)
	if !ok {
		return nil
	}
	l, ok := v.([]any)
	if !ok {
		f.fail(key, "want a list, got %s", pyjson.TypeName(v))
	}
	return l
}

func (f *fields) ints(key string) []int {
	l := f.list(key)
	out := make([]int, len(l))
	for i, e := range l {
		n, err := asInt(e)
		if err != nil {
			f.fail(key, "element %d: %v", i, err)
			return nil
		}
		out[i] = n
	}
	return out
}

func (f *fields) intLists(key string) [][]int {
	l := f.list(key)
	out := make([][]int, len(l))
	for i, e := range l {
		inner, ok := e.([]any)
		if !ok {
			f.fail(key, "element %d: want a list, got %s", i, pyjson.TypeName(e))
			return nil
		}
		out[i] = make([]int, len(inner))
		for j, x := range inner {
			n, err := asInt(x)
			if err != nil {
				f.fail(key, "element [%d][%d]: %v", i, j, err)
				return nil
			}
			out[i][j] = n
		}
	}
	return out
}

// floats reads a list of numbers; allInts reports whether every element was
// written as an integer.
func (f *fields) floats(key string) (vals []float64, allInts bool) {
	l := f.list(key)
	out := make([]float64, len(l))
	allInts = len(l) > 0
	for i, e := range l {
		switch x := e.(type) {
		case int64:
			out[i] = float64(x)
		case float64:
			out[i] = x
			allInts = false
		default:
			f.fail(key, "element %d: want a number, got %s", i, pyjson.TypeName(e))
			return nil, false
		}
	}
	return out, allInts
}

func (f *fields) bools(key string) []bool {
	l := f.list(key)
	out := make([]bool, len(l))
	for i, e := range l {
		b, ok := e.(bool)
		if !ok {
			f.fail(key, "element %d: want true or false, got %s", i, pyjson.TypeName(e))
			return nil
		}
		out[i] = b
	}
	return out
}

func (f *fields) strs(key string) []string {
	l := f.list(key)
	out := make([]string, len(l))
	for i, e := range l {
		s, ok := e.(string)
		if !ok {
			f.fail(key, "element %d: want a string, got %s", i, pyjson.TypeName(e))
			return nil
		}
		out[i] = s
	}
	return out
}

func asInt(v any) (int, error) {
	switch x := v.(type) {
	case int64:
		return int(x), nil
	case float64:
		// Python would reject a float where an int is needed in most
		// places; accept only integral values written as floats.
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int(x), nil
		}
	}
	return 0, fmt.Errorf("want an integer, got %s %v", pyjson.TypeName(v), v)
}

func intsToAny(v []int) []any {
	out := make([]any, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

func floatsToAny(v []float64) []any {
	out := make([]any, len(v))
	for i, x := range v {
		out[i] = x
	}
	return out
}

func intListsToAny(v [][]int) []any {
	out := make([]any, len(v))
	for i, x := range v {
		out[i] = intsToAny(x)
	}
	return out
}
