package train

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"

	"github.com/nnrunner/nnrunner/stages/internal/atomicfile"
	"github.com/nnrunner/nnrunner/stages/nn/unet"
)

// The safetensors format (huggingface/safetensors): an 8-byte little-endian
// header length, a JSON header mapping each tensor name to its dtype, shape
// and [begin, end) byte offsets into the data section (plus an optional
// "__metadata__" string map), then the raw little-endian data. It is
// written by hand here: the format is a few lines, and writing it directly
// gives byte-identical files for identical tensors (names sorted, offsets in
// name order, header padded with spaces to a multiple of 8 bytes).

type tensorHeader struct {
	DType   string `json:"dtype"`
	Shape   []int  `json:"shape"`
	Offsets [2]int `json:"data_offsets"`
}

// maxHeader bounds the JSON header length accepted on read.
const maxHeader = 100 << 20

// writeSafetensors writes float32 tensors and string metadata to path
// atomically (temporary file, then rename).
func writeSafetensors(path string, tensors map[string]unet.Tensor, meta map[string]string) error {
	names := make([]string, 0, len(tensors))
	for k := range tensors {
		names = append(names, k)
	}
	slices.Sort(names)
	header := make(map[string]any, len(names)+1)
	if len(meta) > 0 {
		header["__metadata__"] = meta
	}
	off := 0
	for _, k := range names {
		t := tensors[k]
		if n := numel(t.Shape); n != len(t.Data) {
			return fmt.Errorf("write %s: tensor %s has shape %v but %d values", path, k, t.Shape, len(t.Data))
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		header[k] = tensorHeader{DType: "F32", Shape: shape, Offsets: [2]int{off, off + 4*len(t.Data)}}
		off += 4 * len(t.Data)
	}
	hj, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("write %s: encode header: %w", path, err)
	}
	for (8+len(hj))%8 != 0 {
		hj = append(hj, ' ')
	}
	buf := make([]byte, 8+len(hj)+off)
	binary.LittleEndian.PutUint64(buf, uint64(len(hj)))
	copy(buf[8:], hj)
	p := 8 + len(hj)
	for _, k := range names {
		for _, v := range tensors[k].Data {
			binary.LittleEndian.PutUint32(buf[p:], math.Float32bits(v))
			p += 4
		}
	}
	return writeFileAtomic(path, buf)
}

// readSafetensors reads a float32 safetensors file.
func readSafetensors(path string) (map[string]unet.Tensor, map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read checkpoint: %w", err)
	}
	if len(b) < 8 {
		return nil, nil, fmt.Errorf("read checkpoint %s: %d bytes is too short for a safetensors file", path, len(b))
	}
	hl := binary.LittleEndian.Uint64(b)
	if hl > maxHeader || 8+hl > uint64(len(b)) {
		return nil, nil, fmt.Errorf("read checkpoint %s: header length %d does not fit the %d-byte file; not a safetensors file?", path, hl, len(b))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(bytes.TrimRight(b[8:8+hl], " "), &raw); err != nil {
		return nil, nil, fmt.Errorf("read checkpoint %s: header: %w", path, err)
	}
	data := b[8+hl:]
	out := make(map[string]unet.Tensor, len(raw))
	var meta map[string]string
	for k, v := range raw {
		if k == "__metadata__" {
			if err := json.Unmarshal(v, &meta); err != nil {
				return nil, nil, fmt.Errorf("read checkpoint %s: metadata: %w", path, err)
			}
			continue
		}
		var h tensorHeader
		if err := json.Unmarshal(v, &h); err != nil {
			return nil, nil, fmt.Errorf("read checkpoint %s: tensor %s: %w", path, k, err)
		}
		if h.DType != "F32" {
			return nil, nil, fmt.Errorf("read checkpoint %s: tensor %s has dtype %s; only F32 is supported", path, k, h.DType)
		}
		n := numel(h.Shape)
		if h.Offsets[0] < 0 || h.Offsets[1] > len(data) || h.Offsets[1]-h.Offsets[0] != 4*n {
			return nil, nil, fmt.Errorf("read checkpoint %s: tensor %s offsets %v do not hold shape %v in %d data bytes", path, k, h.Offsets, h.Shape, len(data))
		}
		t := unet.Tensor{Shape: h.Shape, Data: make([]float32, n)}
		for i := range t.Data {
			t.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[h.Offsets[0]+4*i:]))
		}
		out[k] = t
	}
	return out, meta, nil
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// writeFileAtomic writes b to a temporary file next to path, syncs it and
// renames it over path, so an interrupted save never leaves a torn file.
func writeFileAtomic(path string, b []byte) error {
	err := atomicfile.Write(path, func(f *os.File) error {
		if _, err := f.Write(b); err != nil {
			return err
		}
		return f.Sync()
	})
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
