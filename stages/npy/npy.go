// Package npy reads and writes NumPy .npy files (format version 1.0,
// little-endian, C order) for the element types nnU-Net stores: float32
// images, int8/int16 segmentations and int64 coordinate tables.
package npy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// Elem is an element type that can be stored.
type Elem interface {
	float32 | float64 | int8 | uint8 | int16 | uint16 | int32 | int64
}

var magic = []byte("\x93NUMPY")

// descr returns numpy's dtype string for T.
func descr[T Elem]() string {
	var z T
	switch any(z).(type) {
	case float32:
		return "<f4"
	case float64:
		return "<f8"
	case int8:
		return "|i1"
	case uint8:
		return "|u1"
	case int16:
		return "<i2"
	case uint16:
		return "<u2"
	case int32:
		return "<i4"
	}
	return "<i8"
}

// header renders the version 1.0 header numpy writes: the dict padded with
// spaces and a newline so that the data starts at a multiple of 64 bytes.
func header(d string, shape []int) []byte {
	dims := make([]string, len(shape))
	for i, s := range shape {
		dims[i] = strconv.Itoa(s)
	}
	tuple := "(" + strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	tuple += ")"
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", d, tuple)
	total := len(magic) + 4 + len(dict) + 1
	pad := (64 - total%64) % 64
	var b bytes.Buffer
	b.Write(magic)
	b.Write([]byte{1, 0})
	hl := len(dict) + pad + 1
	b.Write([]byte{byte(hl), byte(hl >> 8)})
	b.WriteString(dict)
	b.WriteString(strings.Repeat(" ", pad))
	b.WriteByte('\n')
	return b.Bytes()
}

// Write writes data with the given shape as a .npy stream.
func Write[T Elem](w io.Writer, shape []int, data []T) error {
	n := 1
	for _, s := range shape {
		if s < 0 {
			return fmt.Errorf("npy: negative dimension in shape %v", shape)
		}
		n *= s
	}
	if n != len(data) {
		return fmt.Errorf("npy: shape %v needs %d values, got %d", shape, n, len(data))
	}
	if _, err := w.Write(header(descr[T](), shape)); err != nil {
		return err
	}
	const chunk = 1 << 14
	size := elemSize[T]()
	buf := make([]byte, chunk*size)
	for off := 0; off < len(data); off += chunk {
		part := data[off:min(off+chunk, len(data))]
		b := buf[:len(part)*size]
		encode(b, part)
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// WriteFile writes data to path as a .npy file.
func WriteFile[T Elem](path string, shape []int, data []T) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = Write(f, shape, data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func elemSize[T Elem]() int {
	var z T
	switch any(z).(type) {
	case int8, uint8:
		return 1
	case int16, uint16:
		return 2
	case float32, int32:
		return 4
	}
	return 8
}

func encode[T Elem](b []byte, v []T) {
	le := binary.LittleEndian
	switch s := any(v).(type) {
	case []float32:
		for i, x := range s {
			le.PutUint32(b[4*i:], math.Float32bits(x))
		}
	case []float64:
		for i, x := range s {
			le.PutUint64(b[8*i:], math.Float64bits(x))
		}
	case []int8:
		for i, x := range s {
			b[i] = byte(x)
		}
	case []uint8:
		copy(b, s)
	case []int16:
		for i, x := range s {
			le.PutUint16(b[2*i:], uint16(x))
		}
	case []uint16:
		for i, x := range s {
			le.PutUint16(b[2*i:], x)
		}
	case []int32:
		for i, x := range s {
			le.PutUint32(b[4*i:], uint32(x))
		}
	case []int64:
		for i, x := range s {
			le.PutUint64(b[8*i:], uint64(x))
		}
	}
}

// Array is a decoded .npy file: its dtype string, shape and raw
// little-endian bytes.
type Array struct {
	Descr string
	Shape []int
	Raw   []byte
}

// Len returns the number of elements.
func (a *Array) Len() int {
	n := 1
	for _, s := range a.Shape {
		n *= s
	}
	return n
}

// Read decodes a .npy stream. Only C-ordered, little-endian (or
// single-byte) arrays are accepted.
func Read(r io.Reader) (*Array, error) {
	pre := make([]byte, 8)
	if _, err := io.ReadFull(r, pre); err != nil {
		return nil, fmt.Errorf("npy: read preamble: %w", err)
	}
	if !bytes.Equal(pre[:6], magic) {
		return nil, fmt.Errorf("npy: not a .npy file (bad magic)")
	}
	var hl int
	switch pre[6] {
	case 1:
		b := make([]byte, 2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, fmt.Errorf("npy: read header length: %w", err)
		}
		hl = int(binary.LittleEndian.Uint16(b))
	case 2, 3:
		b := make([]byte, 4)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, fmt.Errorf("npy: read header length: %w", err)
		}
		hl = int(binary.LittleEndian.Uint32(b))
	default:
		return nil, fmt.Errorf("npy: unsupported format version %d.%d", pre[6], pre[7])
	}
	hb := make([]byte, hl)
	if _, err := io.ReadFull(r, hb); err != nil {
		return nil, fmt.Errorf("npy: read header: %w", err)
	}
	a, err := parseHeader(string(hb))
	if err != nil {
		return nil, err
	}
	size, ok := descrSize[a.Descr]
	if !ok {
		return nil, fmt.Errorf("npy: unsupported dtype %q", a.Descr)
	}
	a.Raw = make([]byte, a.Len()*size)
	if _, err := io.ReadFull(r, a.Raw); err != nil {
		return nil, fmt.Errorf("npy: read %d data bytes: %w", len(a.Raw), err)
	}
	return a, nil
}

// ReadFile decodes the .npy file at path.
func ReadFile(path string) (*Array, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return a, nil
}

var descrSize = map[string]int{
	"<f4": 4, "<f8": 8, "|i1": 1, "|u1": 1, "<i2": 2, "<u2": 2, "<i4": 4, "<i8": 8, "|b1": 1,
}

func parseHeader(h string) (*Array, error) {
	field := func(key string) (string, error) {
		i := strings.Index(h, "'"+key+"':")
		if i < 0 {
			return "", fmt.Errorf("npy: header %q has no %s", h, key)
		}
		return strings.TrimSpace(h[i+len(key)+3:]), nil
	}
	a := &Array{}
	d, err := field("descr")
	if err != nil {
		return nil, err
	}
	if len(d) < 2 || d[0] != '\'' {
		return nil, fmt.Errorf("npy: bad descr in header %q", h)
	}
	a.Descr = d[1 : 1+strings.IndexByte(d[1:], '\'')]
	fo, err := field("fortran_order")
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(fo, "True") {
		return nil, fmt.Errorf("npy: Fortran-ordered arrays are not supported")
	}
	sh, err := field("shape")
	if err != nil {
		return nil, err
	}
	end := strings.IndexByte(sh, ')')
	if !strings.HasPrefix(sh, "(") || end < 0 {
		return nil, fmt.Errorf("npy: bad shape in header %q", h)
	}
	for _, p := range strings.Split(sh[1:end], ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSuffix(p, "L"))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("npy: bad dimension %q in header %q", p, h)
		}
		a.Shape = append(a.Shape, n)
	}
	return a, nil
}

// Float32 returns the elements of a float32 array.
func (a *Array) Float32() ([]float32, error) {
	if a.Descr != "<f4" {
		return nil, fmt.Errorf("npy: dtype %s is not float32", a.Descr)
	}
	out := make([]float32, a.Len())
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(a.Raw[4*i:]))
	}
	return out, nil
}

// Int64s returns the elements of an integer array widened to int64.
func (a *Array) Int64s() ([]int64, error) {
	out := make([]int64, a.Len())
	le := binary.LittleEndian
	switch a.Descr {
	case "|i1":
		for i := range out {
			out[i] = int64(int8(a.Raw[i]))
		}
	case "|u1", "|b1":
		for i := range out {
			out[i] = int64(a.Raw[i])
		}
	case "<i2":
		for i := range out {
			out[i] = int64(int16(le.Uint16(a.Raw[2*i:])))
		}
	case "<u2":
		for i := range out {
			out[i] = int64(le.Uint16(a.Raw[2*i:]))
		}
	case "<i4":
		for i := range out {
			out[i] = int64(int32(le.Uint32(a.Raw[4*i:])))
		}
	case "<i8":
		for i := range out {
			out[i] = int64(le.Uint64(a.Raw[8*i:]))
		}
	default:
		return nil, fmt.Errorf("npy: dtype %s is not an integer type", a.Descr)
	}
	return out, nil
}
