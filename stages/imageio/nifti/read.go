package nifti

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"unsafe"

	"github.com/klauspost/compress/gzip"
)

// MaxDataBytes caps the declared voxel data size of an image (64 GiB), so a
// corrupt header cannot make a reader allocate unbounded memory.
const MaxDataBytes = 64 << 30

// maxDeflateRatio bounds how much a deflate stream can expand (the format
// limit is about 1032:1), used to reject headers that declare more data than
// a compressed file can hold.
const maxDeflateRatio = 1032

// chunkBytes is the size of the buffer voxel data are decoded through.
const chunkBytes = 256 << 10

// Reader decodes one NIfTI image: NewReader/Open read and check the header,
// then one Read call decodes the voxel data.
type Reader struct {
	// Header is the image header, with nibabel's load-time fixes applied.
	Header *Header

	name     string
	st       *stream   // decoding state; nil once closed
	r        io.Reader // the decompressed stream
	gzipped  bool
	file     *os.File
	dataSize int64
	done     bool
}

// stream is the decoding state of a Reader: the input buffer, the gzip
// decompressor and the chunk voxel data are decoded through. Close hands
// it to the next Reader, so that reading many files does not allocate
// (and clear) the ~100-400 KiB of buffers each time.
type stream struct {
	br    *bufio.Reader
	gz    gzip.Reader
	chunk []byte
}

var streams = sync.Pool{New: func() any {
	return &stream{br: bufio.NewReaderSize(nil, 64<<10)}
}}

// Open opens a .nii or .nii.gz file (gzip is recognised by content, not by
// name) and reads its header.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read NIfTI: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read NIfTI %s: %w", path, err)
	}
	r, err := NewReader(f, path, st.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	r.file = f
	return r, nil
}

// NewReader reads the header of a NIfTI stream, plain or gzip-compressed.
// name is used in error messages; size is the stream's length in bytes, or
// -1 if unknown, and bounds the data size a header may declare.
func NewReader(src io.Reader, name string, size int64) (_ *Reader, err error) {
	st := streams.Get().(*stream)
	st.br.Reset(src)
	rd := &Reader{name: name, st: st, r: st.br}
	defer func() {
		if err != nil {
			rd.Close()
		}
	}()
	magic, _ := st.br.Peek(2)
	limit := int64(MaxDataBytes)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		if err := st.gz.Reset(st.br); err != nil {
			return nil, rd.errorf("gzip: %v", err)
		}
		rd.gzipped, rd.r = true, &st.gz
		if size >= 0 && size < limit/maxDeflateRatio {
			limit = size * maxDeflateRatio
		}
	} else if size >= 0 && size < limit {
		limit = size
	}

	b := make([]byte, sizeofHdr2)
	n, err := io.ReadFull(rd.r, b[:4])
	if err != nil {
		return nil, rd.errorf("file too short for a NIfTI header (%d bytes)", n)
	}
	version, order, err := headerSize(b)
	if err != nil {
		return nil, rd.wrap(err)
	}
	hsize := sizeofHdr1
	if version == 2 {
		hsize = sizeofHdr2
	}
	if n, err := io.ReadFull(rd.r, b[4:hsize]); err != nil {
		return nil, rd.errorf("truncated NIfTI-%d header: %d of %d bytes", version, n+4, hsize)
	}
	var h *Header
	if version == 1 {
		h, err = parseHeader1(b, order)
	} else {
		h, err = parseHeader2(b, order)
	}
	if err == nil {
		err = h.validate()
	}
	if err != nil {
		return nil, rd.wrap(err)
	}
	if rd.dataSize, err = h.dataBytes(); err != nil {
		return nil, rd.wrap(err)
	}
	if rd.dataSize > limit-h.VoxOffset {
		return nil, rd.errorf("header declares %d bytes of %s voxel data (dims %v) at offset %d, more than the file can hold (at most %d bytes); truncated file or corrupt header",
			rd.dataSize, h.Datatype, h.Shape(), h.VoxOffset, limit)
	}
	// Skip extensions up to the voxel data.
	if skip := h.VoxOffset - int64(hsize); skip > 0 {
		if n, err := io.CopyN(io.Discard, rd.r, skip); err != nil {
			return nil, rd.errorf("truncated before voxel data: %d of %d bytes between header and vox_offset %d", n, skip, h.VoxOffset)
		}
	}
	rd.Header = h
	return rd, nil
}

// Close releases the underlying file, if Open opened one, and the
// decoding buffers. The Reader cannot be used afterwards.
func (r *Reader) Close() error {
	var err error
	if r.file != nil {
		err = r.file.Close()
		r.file = nil
	}
	if r.st != nil {
		r.st.br.Reset(nil) // keep no reference to the source
		streams.Put(r.st)
		r.st, r.r = nil, nil
	}
	return err
}

// NumVoxels returns the number of values ReadFloat32/ReadFloat64 decode.
func (r *Reader) NumVoxels() int { return int(r.Header.NumVoxels()) }

// ReadFloat32 decodes the voxel data into dst (len(dst) must be NumVoxels),
// applying scl_slope/scl_inter as nibabel's get_fdata does (in float64) and
// rounding the result to float32, like get_fdata().astype(np.float32).
// Values are in file order (x fastest).
func (r *Reader) ReadFloat32(dst []float32) error {
	return readInto(r, dst)
}

// ReadFloat64 decodes the voxel data into dst (len(dst) must be NumVoxels)
// with the exact semantics of nibabel's get_fdata().
func (r *Reader) ReadFloat64(dst []float64) error {
	return readInto(r, dst)
}

func readInto[T float32 | float64](r *Reader, dst []T) error {
	h := r.Header
	if int64(len(dst)) != h.NumVoxels() {
		return r.errorf("destination holds %d values, image has %d", len(dst), h.NumVoxels())
	}
	if r.done {
		return r.errorf("voxel data already read")
	}
	if r.st == nil {
		return r.errorf("reader closed")
	}
	r.done = true
	slope, inter, scaled, err := h.Scaling()
	if err != nil {
		return r.wrap(err)
	}
	size := h.Datatype.Size()
	swap := h.ByteOrder == binary.BigEndian && size > 1
	if !scaled && !swap && hostLittleEndian && isDatatypeOf[T](h.Datatype) && len(dst) > 0 {
		// The file holds T itself in host byte order: read it straight
		// into dst, without decoding.
		b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(dst))), len(dst)*size)
		if got, err := io.ReadFull(r.r, b); err != nil {
			return r.errorf("truncated voxel data: got %d of %d bytes (dims %v, %s)",
				int64(got), r.dataSize, h.Shape(), h.Datatype)
		}
		return r.checkTrailer()
	}
	per := min(chunkBytes/size, len(dst))
	if cap(r.st.chunk) < per*size {
		r.st.chunk = make([]byte, chunkBytes)
	}
	buf := r.st.chunk[:per*size]
	var scratch []float64
	if scaled {
		scratch = make([]float64, per)
	}
	for off := 0; off < len(dst); off += per {
		n := min(per, len(dst)-off)
		b := buf[:n*size]
		if got, err := io.ReadFull(r.r, b); err != nil {
			return r.errorf("truncated voxel data: got %d of %d bytes (dims %v, %s)",
				int64(off*size+got), r.dataSize, h.Shape(), h.Datatype)
		}
		if swap {
			swapBytes(b, size)
		}
		out := dst[off : off+n]
		if scaled {
			s := scratch[:n]
			decode(s, b, h.Datatype)
			applyScaling(s, slope, inter)
			for i, v := range s {
				out[i] = T(v)
			}
		} else {
			decode(out, b, h.Datatype)
		}
	}
	return r.checkTrailer()
}

// checkTrailer surfaces CRC errors of fully read compressed files; a
// stream that continues past the data (trailing bytes) is fine.
func (r *Reader) checkTrailer() error {
	if r.gzipped {
		var one [1]byte
		if _, err := r.r.Read(one[:]); err != nil && !errors.Is(err, io.EOF) {
			return r.errorf("gzip: %v", err)
		}
	}
	return nil
}

// hostLittleEndian reports whether this machine stores numbers little-endian.
var hostLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// isDatatypeOf reports whether dt is T's own type (Float32 for float32,
// Float64 for float64).
func isDatatypeOf[T float32 | float64](dt Datatype) bool {
	var zero T
	switch any(zero).(type) {
	case float32:
		return dt == Float32
	default:
		return dt == Float64
	}
}

// applyScaling computes v*slope + inter with separate roundings, as numpy
// does (the explicit conversion forbids a fused multiply-add), skipping a
// unit slope and a zero intercept like nibabel.
func applyScaling(s []float64, slope, inter float64) {
	if slope != 1 {
		for i, v := range s {
			s[i] = float64(v * slope)
		}
	}
	if inter != 0 {
		for i := range s {
			s[i] += inter
		}
	}
}

// decode converts little-endian values of datatype dt in b into out. 64-bit
// integers are converted through float64, like numpy's float64 cast.
func decode[T float32 | float64](out []T, b []byte, dt Datatype) {
	le := binary.LittleEndian
	switch dt {
	case Uint8:
		for i := range out {
			out[i] = T(b[i])
		}
	case Int8:
		for i := range out {
			out[i] = T(int8(b[i]))
		}
	case Int16:
		for i := range out {
			out[i] = T(int16(le.Uint16(b[2*i:])))
		}
	case Uint16:
		for i := range out {
			out[i] = T(le.Uint16(b[2*i:]))
		}
	case Int32:
		for i := range out {
			out[i] = T(float64(int32(le.Uint32(b[4*i:]))))
		}
	case Uint32:
		for i := range out {
			out[i] = T(float64(le.Uint32(b[4*i:])))
		}
	case Int64:
		for i := range out {
			out[i] = T(float64(int64(le.Uint64(b[8*i:]))))
		}
	case Uint64:
		for i := range out {
			out[i] = T(float64(le.Uint64(b[8*i:])))
		}
	case Float32:
		for i := range out {
			out[i] = T(math.Float32frombits(le.Uint32(b[4*i:])))
		}
	case Float64:
		for i := range out {
			out[i] = T(math.Float64frombits(le.Uint64(b[8*i:])))
		}
	}
}

// swapBytes reverses the byte order of every size-byte element of b.
func swapBytes(b []byte, size int) {
	switch size {
	case 2:
		for i := 0; i+1 < len(b); i += 2 {
			b[i], b[i+1] = b[i+1], b[i]
		}
	case 4:
		for i := 0; i+3 < len(b); i += 4 {
			b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
		}
	case 8:
		for i := 0; i+7 < len(b); i += 8 {
			b[i], b[i+1], b[i+2], b[i+3], b[i+4], b[i+5], b[i+6], b[i+7] =
				b[i+7], b[i+6], b[i+5], b[i+4], b[i+3], b[i+2], b[i+1], b[i]
		}
	}
}

// ReadFile reads a whole image as float32 (see Reader.ReadFloat32).
func ReadFile(path string) (*Header, []float32, error) {
	r, err := Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	data := make([]float32, r.NumVoxels())
	if err := r.ReadFloat32(data); err != nil {
		return nil, nil, err
	}
	return r.Header, data, nil
}

// ReadFile64 reads a whole image as float64 (see Reader.ReadFloat64).
func ReadFile64(path string) (*Header, []float64, error) {
	r, err := Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	data := make([]float64, r.NumVoxels())
	if err := r.ReadFloat64(data); err != nil {
		return nil, nil, err
	}
	return r.Header, data, nil
}

// ReadHeader reads only the header of a NIfTI file.
func ReadHeader(path string) (*Header, error) {
	r, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.Header, nil
}

// Decode reads a complete NIfTI image held in memory as float32; name is
// used in error messages.
func Decode(b []byte, name string) (*Header, []float32, error) {
	r, err := NewReader(bytes.NewReader(b), name, int64(len(b)))
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	data := make([]float32, r.NumVoxels())
	if err := r.ReadFloat32(data); err != nil {
		return nil, nil, err
	}
	return r.Header, data, nil
}

func (r *Reader) errorf(format string, args ...any) error {
	return fmt.Errorf("read NIfTI %s: %s", r.name, fmt.Sprintf(format, args...))
}

func (r *Reader) wrap(err error) error {
	return fmt.Errorf("read NIfTI %s: %w", r.name, err)
}
