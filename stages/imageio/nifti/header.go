// Package nifti reads and writes NIfTI-1 and NIfTI-2 images (.nii and
// .nii.gz, either byte order) with the semantics of nibabel: header fixes
// applied on load, scl_slope/scl_inter scaling, and the "best" affine
// (sform, else qform, else pixdim-based).
//
// Voxel values are stored with x fastest, so the decoded slice is in C order
// for the reversed shape (..., z, y, x).
package nifti

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
)

// Header sizes and data offsets of single-file images.
const (
	sizeofHdr1 = 348
	sizeofHdr2 = 540
	minOffset1 = sizeofHdr1 + 4 // header + extension flag
	minOffset2 = sizeofHdr2 + 4
)

var (
	magicSingle1 = [4]byte{'n', '+', '1', 0}
	magicPair1   = [4]byte{'n', 'i', '1', 0}
	magicSingle2 = [8]byte{'n', '+', '2', 0, '\r', '\n', '\032', '\n'}
	magicPair2   = [8]byte{'n', 'i', '2', 0, '\r', '\n', '\032', '\n'}
)

// Geometry holds the header fields that place the voxel grid in space. They
// are copied unchanged when an image derived from another (a segmentation,
// a prediction) is written. NIfTI-1 stores them as float32; they are held
// here widened exactly to float64.
type Geometry struct {
	Pixdim    [8]float64 `json:"pixdim"`
	XYZTUnits int32      `json:"xyzt_units"`
	QformCode int32      `json:"qform_code"`
	SformCode int32      `json:"sform_code"`
	QuaternB  float64    `json:"quatern_b"`
	QuaternC  float64    `json:"quatern_c"`
	QuaternD  float64    `json:"quatern_d"`
	QoffsetX  float64    `json:"qoffset_x"`
	QoffsetY  float64    `json:"qoffset_y"`
	QoffsetZ  float64    `json:"qoffset_z"`
	SrowX     [4]float64 `json:"srow_x"`
	SrowY     [4]float64 `json:"srow_y"`
	SrowZ     [4]float64 `json:"srow_z"`
}

// Header is a decoded NIfTI-1 or NIfTI-2 header. Field names follow the
// standard; values of either version are widened to int64/float64.
type Header struct {
	Version   int              // 1 or 2
	ByteOrder binary.ByteOrder // byte order of the file it was read from
	Dim       [8]int64         // Dim[0] is the number of dimensions
	Datatype  Datatype
	Bitpix    int16
	DimInfo   uint8

	IntentP1, IntentP2, IntentP3 float64
	IntentCode                   int32
	IntentName                   string

	VoxOffset int64 // byte offset of the voxel data in the (decompressed) file
	SclSlope  float64
	SclInter  float64
	CalMax    float64
	CalMin    float64

	SliceStart    int64
	SliceEnd      int64
	SliceCode     int32
	SliceDuration float64
	Toffset       float64

	Descrip string
	AuxFile string

	Geometry
}

// Shape returns the image dimensions Dim[1:Dim[0]+1] (x first).
func (h *Header) Shape() []int {
	n := int(h.Dim[0])
	s := make([]int, n)
	for i := range s {
		s[i] = int(h.Dim[i+1])
	}
	return s
}

// NumVoxels returns the number of voxel values in the image.
func (h *Header) NumVoxels() int64 {
	n := int64(1)
	for i := 1; i <= int(h.Dim[0]); i++ {
		n *= h.Dim[i]
	}
	return n
}

// Scaling returns the factors that turn stored values into real values,
// with nibabel's semantics: a slope of 0 or a non-finite slope means no
// scaling (ok is false); a valid slope with a non-finite intercept is an
// error.
func (h *Header) Scaling() (slope, inter float64, ok bool, err error) {
	if h.SclSlope == 0 || math.IsNaN(h.SclSlope) || math.IsInf(h.SclSlope, 0) {
		return 1, 0, false, nil
	}
	if math.IsNaN(h.SclInter) || math.IsInf(h.SclInter, 0) {
		return 0, 0, false, fmt.Errorf("valid scl_slope %g but invalid scl_inter %g", h.SclSlope, h.SclInter)
	}
	return h.SclSlope, h.SclInter, h.SclSlope != 1 || h.SclInter != 0, nil
}

// dataBytes returns the size of the voxel data in bytes, or an error when it
// does not fit an int64.
func (h *Header) dataBytes() (int64, error) {
	size := int64(h.Datatype.Size())
	n := size
	for i := 1; i <= int(h.Dim[0]); i++ {
		d := h.Dim[i]
		if n > math.MaxInt64/d {
			return 0, fmt.Errorf("image dimensions %v overflow", h.Shape())
		}
		n *= d
	}
	return n, nil
}

// headerSize returns the number of header bytes before the extension flag.
func headerSize(b []byte) (version int, order binary.ByteOrder, err error) {
	if len(b) < 4 {
		return 0, nil, fmt.Errorf("file too short for a NIfTI header (%d bytes)", len(b))
	}
	for _, o := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		switch o.Uint32(b) {
		case sizeofHdr1:
			return 1, o, nil
		case sizeofHdr2:
			return 2, o, nil
		}
	}
	return 0, nil, fmt.Errorf("not a NIfTI file: sizeof_hdr is %d, want 348 (NIfTI-1) or 540 (NIfTI-2)",
		binary.LittleEndian.Uint32(b))
}

func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// parseHeader1 decodes a NIfTI-1 header (348 bytes).
func parseHeader1(b []byte, o binary.ByteOrder) (*Header, error) {
	var magic [4]byte
	copy(magic[:], b[344:348])
	switch magic {
	case magicSingle1:
	case magicPair1:
		return nil, fmt.Errorf("NIfTI-1 header/image pair (magic ni1) is not supported; convert it to a single .nii file")
	default:
		return nil, fmt.Errorf("not a NIfTI-1 file: magic %q, want \"n+1\"", cstring(magic[:]))
	}
	f32 := func(off int) float64 { return float64(math.Float32frombits(o.Uint32(b[off:]))) }
	i16 := func(off int) int16 { return int16(o.Uint16(b[off:])) }
	h := &Header{Version: 1, ByteOrder: o}
	for i := range h.Dim {
		h.Dim[i] = int64(i16(40 + 2*i))
	}
	h.IntentP1, h.IntentP2, h.IntentP3 = f32(56), f32(60), f32(64)
	h.IntentCode = int32(i16(68))
	h.Datatype = Datatype(i16(70))
	h.Bitpix = i16(72)
	h.SliceStart = int64(i16(74))
	for i := range h.Pixdim {
		h.Pixdim[i] = f32(76 + 4*i)
	}
	off := f32(108)
	if math.IsNaN(off) || off < 0 || off > math.MaxInt32 {
		return nil, fmt.Errorf("invalid vox_offset %g", off)
	}
	h.VoxOffset = int64(off)
	h.SclSlope, h.SclInter = f32(112), f32(116)
	h.SliceEnd = int64(i16(120))
	h.SliceCode = int32(b[122])
	h.XYZTUnits = int32(b[123])
	h.CalMax, h.CalMin = f32(124), f32(128)
	h.SliceDuration, h.Toffset = f32(132), f32(136)
	h.Descrip = cstring(b[148:228])
	h.AuxFile = cstring(b[228:252])
	h.QformCode, h.SformCode = int32(i16(252)), int32(i16(254))
	h.QuaternB, h.QuaternC, h.QuaternD = f32(256), f32(260), f32(264)
	h.QoffsetX, h.QoffsetY, h.QoffsetZ = f32(268), f32(272), f32(276)
	for i := 0; i < 4; i++ {
		h.SrowX[i], h.SrowY[i], h.SrowZ[i] = f32(280+4*i), f32(296+4*i), f32(312+4*i)
	}
	h.IntentName = cstring(b[328:344])
	h.DimInfo = b[39]
	return h, nil
}

// parseHeader2 decodes a NIfTI-2 header (540 bytes).
func parseHeader2(b []byte, o binary.ByteOrder) (*Header, error) {
	var magic [8]byte
	copy(magic[:], b[4:12])
	switch magic {
	case magicSingle2:
	case magicPair2:
		return nil, fmt.Errorf("NIfTI-2 header/image pair (magic ni2) is not supported; convert it to a single .nii file")
	default:
		return nil, fmt.Errorf("not a NIfTI-2 file: magic %q, want \"n+2\"", cstring(magic[:]))
	}
	f64 := func(off int) float64 { return math.Float64frombits(o.Uint64(b[off:])) }
	i64 := func(off int) int64 { return int64(o.Uint64(b[off:])) }
	i32 := func(off int) int32 { return int32(o.Uint32(b[off:])) }
	h := &Header{Version: 2, ByteOrder: o}
	h.Datatype = Datatype(int16(o.Uint16(b[12:])))
	h.Bitpix = int16(o.Uint16(b[14:]))
	for i := range h.Dim {
		h.Dim[i] = i64(16 + 8*i)
	}
	h.IntentP1, h.IntentP2, h.IntentP3 = f64(80), f64(88), f64(96)
	for i := range h.Pixdim {
		h.Pixdim[i] = f64(104 + 8*i)
	}
	h.VoxOffset = i64(168)
	if h.VoxOffset < 0 {
		return nil, fmt.Errorf("invalid vox_offset %d", h.VoxOffset)
	}
	h.SclSlope, h.SclInter = f64(176), f64(184)
	h.CalMax, h.CalMin = f64(192), f64(200)
	h.SliceDuration, h.Toffset = f64(208), f64(216)
	h.SliceStart, h.SliceEnd = i64(224), i64(232)
	h.Descrip = cstring(b[240:320])
	h.AuxFile = cstring(b[320:344])
	h.QformCode, h.SformCode = i32(344), i32(348)
	h.QuaternB, h.QuaternC, h.QuaternD = f64(352), f64(360), f64(368)
	h.QoffsetX, h.QoffsetY, h.QoffsetZ = f64(376), f64(384), f64(392)
	for i := 0; i < 4; i++ {
		h.SrowX[i], h.SrowY[i], h.SrowZ[i] = f64(400+8*i), f64(432+8*i), f64(464+8*i)
	}
	h.SliceCode = i32(496)
	h.XYZTUnits = i32(500)
	h.IntentCode = i32(504)
	h.IntentName = cstring(b[508:524])
	h.DimInfo = b[524]
	return h, nil
}

// validate checks the fields needed to decode the voxel data and applies the
// fixes nibabel applies when it loads a header (check_fix): data offset 0
// means "right after the header", pixdim[0] other than ±1 becomes 1, zero
// voxel sizes become 1, negative ones their absolute value, unknown
// qform/sform codes become 0.
func (h *Header) validate() error {
	nd := h.Dim[0]
	if nd < 1 || nd > 7 {
		return fmt.Errorf("invalid number of dimensions dim[0] = %d, want 1 to 7", nd)
	}
	for i := 1; i <= int(nd); i++ {
		if h.Dim[i] < 1 {
			return fmt.Errorf("invalid dimension dim[%d] = %d in dims %v, want >= 1", i, h.Dim[i], h.Dim[1:nd+1])
		}
	}
	if !h.Datatype.Supported() {
		if _, known := datatypeNames[h.Datatype]; known {
			return fmt.Errorf("datatype %s (code %d) is not supported; supported are integer and float types up to 64 bits", h.Datatype, int16(h.Datatype))
		}
		return fmt.Errorf("unknown datatype code %d", int16(h.Datatype))
	}
	minOff := int64(minOffset1)
	if h.Version == 2 {
		minOff = minOffset2
	}
	switch {
	case h.VoxOffset == 0:
		h.VoxOffset = minOff
	case h.VoxOffset < minOff:
		return fmt.Errorf("vox_offset %d is inside the header (minimum %d for a single-file NIfTI-%d)", h.VoxOffset, minOff, h.Version)
	}
	if h.Pixdim[0] != 1 && h.Pixdim[0] != -1 {
		h.Pixdim[0] = 1
	}
	for i := 1; i <= 3; i++ {
		switch p := h.Pixdim[i]; {
		case p == 0:
			h.Pixdim[i] = 1
		case p < 0:
			h.Pixdim[i] = -p
		case math.IsNaN(p):
			return fmt.Errorf("invalid voxel size pixdim[%d] = NaN", i)
		}
	}
	if h.QformCode < 0 || h.QformCode > 5 {
		h.QformCode = 0
	}
	if h.SformCode < 0 || h.SformCode > 5 {
		h.SformCode = 0
	}
	h.Bitpix = int16(8 * h.Datatype.Size())
	return nil
}

// encode returns the header bytes (including the 4-byte extension flag, no
// extensions) in little-endian order, for a file whose data start at
// VoxOffset.
func (h *Header) encode() ([]byte, error) {
	o := binary.LittleEndian
	if h.Version == 2 {
		b := make([]byte, minOffset2)
		o.PutUint32(b, sizeofHdr2)
		copy(b[4:12], magicSingle2[:])
		p64 := func(off int, v float64) { o.PutUint64(b[off:], math.Float64bits(v)) }
		pi64 := func(off int, v int64) { o.PutUint64(b[off:], uint64(v)) }
		pi32 := func(off int, v int32) { o.PutUint32(b[off:], uint32(v)) }
		o.PutUint16(b[12:], uint16(h.Datatype))
		o.PutUint16(b[14:], uint16(h.Bitpix))
		for i, d := range h.Dim {
			pi64(16+8*i, d)
		}
		p64(80, h.IntentP1)
		p64(88, h.IntentP2)
		p64(96, h.IntentP3)
		for i, p := range h.Pixdim {
			p64(104+8*i, p)
		}
		pi64(168, h.VoxOffset)
		p64(176, h.SclSlope)
		p64(184, h.SclInter)
		p64(192, h.CalMax)
		p64(200, h.CalMin)
		p64(208, h.SliceDuration)
		p64(216, h.Toffset)
		pi64(224, h.SliceStart)
		pi64(232, h.SliceEnd)
		copy(b[240:319], h.Descrip)
		copy(b[320:343], h.AuxFile)
		pi32(344, h.QformCode)
		pi32(348, h.SformCode)
		p64(352, h.QuaternB)
		p64(360, h.QuaternC)
		p64(368, h.QuaternD)
		p64(376, h.QoffsetX)
		p64(384, h.QoffsetY)
		p64(392, h.QoffsetZ)
		for i := 0; i < 4; i++ {
			p64(400+8*i, h.SrowX[i])
			p64(432+8*i, h.SrowY[i])
			p64(464+8*i, h.SrowZ[i])
		}
		pi32(496, h.SliceCode)
		pi32(500, h.XYZTUnits)
		pi32(504, h.IntentCode)
		copy(b[508:523], h.IntentName)
		b[524] = h.DimInfo
		return b, nil
	}

	for i, d := range h.Dim {
		if d > math.MaxInt16 {
			return nil, fmt.Errorf("dim[%d] = %d does not fit NIfTI-1 (max %d); write NIfTI-2", i, d, math.MaxInt16)
		}
	}
	if h.SliceStart > math.MaxInt16 || h.SliceEnd > math.MaxInt16 || h.SliceStart < 0 || h.SliceEnd < 0 {
		return nil, fmt.Errorf("slice_start/slice_end %d/%d do not fit NIfTI-1", h.SliceStart, h.SliceEnd)
	}
	b := make([]byte, minOffset1)
	o.PutUint32(b, sizeofHdr1)
	p32 := func(off int, v float64) { o.PutUint32(b[off:], math.Float32bits(float32(v))) }
	pi16 := func(off int, v int64) { o.PutUint16(b[off:], uint16(int16(v))) }
	b[38] = 'r' // "regular", as nibabel writes
	b[39] = h.DimInfo
	for i, d := range h.Dim {
		pi16(40+2*i, d)
	}
	p32(56, h.IntentP1)
	p32(60, h.IntentP2)
	p32(64, h.IntentP3)
	pi16(68, int64(h.IntentCode))
	pi16(70, int64(h.Datatype))
	pi16(72, int64(h.Bitpix))
	pi16(74, h.SliceStart)
	for i, p := range h.Pixdim {
		p32(76+4*i, p)
	}
	p32(108, float64(h.VoxOffset))
	p32(112, h.SclSlope)
	p32(116, h.SclInter)
	pi16(120, h.SliceEnd)
	b[122] = byte(h.SliceCode)
	b[123] = byte(h.XYZTUnits)
	p32(124, h.CalMax)
	p32(128, h.CalMin)
	p32(132, h.SliceDuration)
	p32(136, h.Toffset)
	copy(b[148:227], h.Descrip)
	copy(b[228:251], h.AuxFile)
	pi16(252, int64(h.QformCode))
	pi16(254, int64(h.SformCode))
	p32(256, h.QuaternB)
	p32(260, h.QuaternC)
	p32(264, h.QuaternD)
	p32(268, h.QoffsetX)
	p32(272, h.QoffsetY)
	p32(276, h.QoffsetZ)
	for i := 0; i < 4; i++ {
		p32(280+4*i, h.SrowX[i])
		p32(296+4*i, h.SrowY[i])
		p32(312+4*i, h.SrowZ[i])
	}
	copy(b[328:343], h.IntentName)
	copy(b[344:348], magicSingle1[:])
	return b, nil
}
