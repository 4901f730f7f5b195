package nifti

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/klauspost/compress/gzip"

	"github.com/nnrunner/nnrunner/stages/internal/atomicfile"
)

// Encode writes h and data as an uncompressed little-endian single-file
// NIfTI image to w. The datatype and bitpix are set from T, vox_offset to
// the end of the header, and NIfTI-2 is used when h.Version is 2 or a
// dimension exceeds NIfTI-1's int16 range. len(data) must match h.Dim. All
// other fields, including scl_slope/scl_inter, are written as given.
func Encode[T Number](w io.Writer, h *Header, data []T) error {
	out := *h
	out.Datatype = DatatypeOf[T]()
	out.Bitpix = int16(8 * out.Datatype.Size())
	out.ByteOrder = binary.LittleEndian
	if out.Dim[0] < 1 || out.Dim[0] > 7 {
		return fmt.Errorf("invalid number of dimensions dim[0] = %d", out.Dim[0])
	}
	for i := 1; i <= int(out.Dim[0]); i++ {
		if out.Dim[i] < 1 {
			return fmt.Errorf("invalid dimension dim[%d] = %d", i, out.Dim[i])
		}
		if out.Dim[i] > math.MaxInt16 {
			out.Version = 2
		}
	}
	if out.Version != 2 {
		out.Version = 1
	}
	if n := out.NumVoxels(); n != int64(len(data)) {
		return fmt.Errorf("data holds %d values, dims %v need %d", len(data), out.Shape(), n)
	}
	out.VoxOffset = minOffset1
	if out.Version == 2 {
		out.VoxOffset = minOffset2
	}
	hdr, err := out.encode()
	if err != nil {
		return err
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	return encodeData(w, data)
}

// encodeData writes data as little-endian bytes through a fixed buffer.
func encodeData[T Number](w io.Writer, data []T) error {
	size := DatatypeOf[T]().Size()
	per := chunkBytes / size
	buf := make([]byte, per*size)
	le := binary.LittleEndian
	for off := 0; off < len(data); off += per {
		n := min(per, len(data)-off)
		b := buf[:n*size]
		switch d := any(data[off : off+n]).(type) {
		case []uint8:
			copy(b, d)
		case []int8:
			for i, v := range d {
				b[i] = byte(v)
			}
		case []int16:
			for i, v := range d {
				le.PutUint16(b[2*i:], uint16(v))
			}
		case []uint16:
			for i, v := range d {
				le.PutUint16(b[2*i:], v)
			}
		case []int32:
			for i, v := range d {
				le.PutUint32(b[4*i:], uint32(v))
			}
		case []uint32:
			for i, v := range d {
				le.PutUint32(b[4*i:], v)
			}
		case []int64:
			for i, v := range d {
				le.PutUint64(b[8*i:], uint64(v))
			}
		case []uint64:
			for i, v := range d {
				le.PutUint64(b[8*i:], v)
			}
		case []float32:
			for i, v := range d {
				le.PutUint32(b[4*i:], math.Float32bits(v))
			}
		case []float64:
			for i, v := range d {
				le.PutUint64(b[8*i:], math.Float64bits(v))
			}
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// WriteFile writes an image to path (see Encode), gzip-compressed when the
// name ends in .gz. The gzip stream carries no name or time stamp, so equal
// inputs give equal bytes. The file is written under a temporary name and
// renamed into place, so readers never see a partial file.
func WriteFile[T Number](path string, h *Header, data []T) error {
	err := atomicfile.Write(path, func(f *os.File) error {
		bw := bufio.NewWriterSize(f, 256<<10)
		var w io.Writer = bw
		var gz *gzip.Writer
		if strings.HasSuffix(strings.ToLower(path), ".gz") {
			var err error
			if gz, err = gzip.NewWriterLevel(bw, gzip.DefaultCompression); err != nil {
				return err
			}
			w = gz
		}
		if err := Encode(w, h, data); err != nil {
			return err
		}
		if gz != nil {
			if err := gz.Close(); err != nil {
				return err
			}
		}
		return bw.Flush()
	})
	if err != nil {
		return fmt.Errorf("write NIfTI %s: %w", path, err)
	}
	return nil
}
