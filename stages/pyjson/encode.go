package pyjson

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/nnrunner/nnrunner/stages/internal/atomicfile"
)

// Options selects the output format.
type Options struct {
	// Indent is the number of spaces per nesting level, as Python's
	// indent=N with N >= 1. Zero writes everything on one line with Python's
	// default separators ", " and ": " (indent=None).
	Indent int
	// SortKeys writes object members sorted by key (sort_keys=True) instead
	// of in insertion order.
	SortKeys bool
}

// Marshaler is implemented by types that convert themselves to a value this
// package can encode (an *Object, []any, scalars, ...).
type Marshaler interface {
	PyJSON() (any, error)
}

// Marshal encodes v like Python's json.dumps with the given options.
//
// Supported values: nil, bool, strings, all integer kinds, float32/float64,
// *Object (insertion order unless SortKeys), maps with string keys (always
// sorted: Go maps have no order), slices and arrays, pointers to these, and
// Marshaler implementations.
func Marshal(v any, opt Options) ([]byte, error) {
	e := encoder{opt: opt}
	if err := e.value(v, 0); err != nil {
		return nil, err
	}
	return e.buf.Bytes(), nil
}

// Encode writes v to w as Marshal does.
func Encode(w io.Writer, v any, opt Options) error {
	b, err := Marshal(v, opt)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// WriteFile encodes v and writes it to path (no trailing newline, as
// json.dump). The file is written to a temporary name in the same folder and
// renamed into place, so a failure never leaves a truncated file.
func WriteFile(path string, v any, opt Options) error {
	b, err := Marshal(v, opt)
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := atomicfile.WriteBytes(path, b); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// FormatFloat formats f as Python's repr(float) does: the shortest decimal
// that round-trips, fixed notation with at least one fractional digit when
// the decimal exponent is in [-4, 16), otherwise scientific notation with a
// signed exponent of at least two digits ("1e-05", "1.5e+16"). NaN and the
// infinities are written as JSON-encoded Python floats: NaN, Infinity,
// -Infinity.
func FormatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	if f == 0 {
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	i := strings.LastIndexByte(e, 'e')
	exp, _ := strconv.Atoi(e[i+1:])
	if exp < -4 || exp >= 16 {
		return e
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsRune(s, '.') {
		s += ".0"
	}
	return s
}

type encoder struct {
	buf bytes.Buffer
	opt Options
}

func (e *encoder) newline(level int) {
	if e.opt.Indent <= 0 {
		return
	}
	e.buf.WriteByte('\n')
	for range level * e.opt.Indent {
		e.buf.WriteByte(' ')
	}
}

func (e *encoder) itemSep(level int) {
	if e.opt.Indent <= 0 {
		e.buf.WriteString(", ")
		return
	}
	e.buf.WriteByte(',')
	e.newline(level)
}

func (e *encoder) value(v any, level int) error {
	switch x := v.(type) {
	case nil:
		e.buf.WriteString("null")
	case bool:
		if x {
			e.buf.WriteString("true")
		} else {
			e.buf.WriteString("false")
		}
	case string:
		writeString(&e.buf, x)
	case int:
		e.buf.WriteString(strconv.Itoa(x))
	case int64:
		e.buf.WriteString(strconv.FormatInt(x, 10))
	case float64:
		e.buf.WriteString(FormatFloat(x))
	case float32:
		e.buf.WriteString(FormatFloat(float64(x)))
	case *Object:
		if x == nil {
			e.buf.WriteString("null")
			return nil
		}
		keys := x.keys
		if e.opt.SortKeys {
			keys = slices.Sorted(slices.Values(keys))
		}
		return e.object(keys, func(k string) any { return x.vals[k] }, level)
	case []any:
		return e.list(len(x), func(i int) any { return x[i] }, level)
	case Marshaler:
		y, err := x.PyJSON()
		if err != nil {
			return err
		}
		return e.value(y, level)
	default:
		return e.reflectValue(reflect.ValueOf(v), level)
	}
	return nil
}

func (e *encoder) reflectValue(rv reflect.Value, level int) error {
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			e.buf.WriteString("null")
			return nil
		}
		return e.value(rv.Elem().Interface(), level)
	case reflect.Bool:
		return e.value(rv.Bool(), level)
	case reflect.String:
		return e.value(rv.String(), level)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.buf.WriteString(strconv.FormatInt(rv.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		e.buf.WriteString(strconv.FormatUint(rv.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		e.buf.WriteString(FormatFloat(rv.Float()))
	case reflect.Slice:
		if rv.IsNil() {
			e.buf.WriteString("null")
			return nil
		}
		return e.list(rv.Len(), func(i int) any { return rv.Index(i).Interface() }, level)
	case reflect.Array:
		return e.list(rv.Len(), func(i int) any { return rv.Index(i).Interface() }, level)
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return fmt.Errorf("pyjson: unsupported map key type %s", rv.Type().Key())
		}
		if rv.IsNil() {
			e.buf.WriteString("null")
			return nil
		}
		keys := make([]string, 0, rv.Len())
		for _, k := range rv.MapKeys() {
			keys = append(keys, k.String())
		}
		slices.Sort(keys)
		kt := rv.Type().Key()
		return e.object(keys, func(k string) any {
			return rv.MapIndex(reflect.ValueOf(k).Convert(kt)).Interface()
		}, level)
	default:
		return fmt.Errorf("pyjson: unsupported type %s", rv.Type())
	}
	return nil
}

func (e *encoder) list(n int, at func(int) any, level int) error {
	if n == 0 {
		e.buf.WriteString("[]")
		return nil
	}
	e.buf.WriteByte('[')
	e.newline(level + 1)
	for i := range n {
		if i > 0 {
			e.itemSep(level + 1)
		}
		if err := e.value(at(i), level+1); err != nil {
			return err
		}
	}
	e.newline(level)
	e.buf.WriteByte(']')
	return nil
}

func (e *encoder) object(keys []string, at func(string) any, level int) error {
	if len(keys) == 0 {
		e.buf.WriteString("{}")
		return nil
	}
	e.buf.WriteByte('{')
	e.newline(level + 1)
	for i, k := range keys {
		if i > 0 {
			e.itemSep(level + 1)
		}
		writeString(&e.buf, k)
		e.buf.WriteString(": ")
		if err := e.value(at(k), level+1); err != nil {
			return fmt.Errorf("%q: %w", k, err)
		}
	}
	e.newline(level)
	e.buf.WriteByte('}')
	return nil
}

const hexDigits = "0123456789abcdef"

// writeString writes s as Python's json module does with ensure_ascii=True:
// printable ASCII verbatim except '"' and '\\', the usual short escapes, and
// \uXXXX (lower-case hex, surrogate pairs above U+FFFF) for everything else.
// Invalid UTF-8 bytes are written as U+FFFD.
func writeString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r >= 0x20 && r <= 0x7e:
			b.WriteByte(byte(r))
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			writeU(b, r1)
			writeU(b, r2)
		default:
			if r == utf8.RuneError {
				r = 0xfffd
			}
			writeU(b, r)
		}
	}
	b.WriteByte('"')
}

func writeU(b *bytes.Buffer, r rune) {
	b.WriteString(`\u`)
	b.WriteByte(hexDigits[r>>12&0xf])
	b.WriteByte(hexDigits[r>>8&0xf])
	b.WriteByte(hexDigits[r>>4&0xf])
	b.WriteByte(hexDigits[r&0xf])
}
