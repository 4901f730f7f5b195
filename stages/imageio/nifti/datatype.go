package nifti

import "fmt"

// Datatype is the NIfTI datatype code of the voxel values (header field
// `datatype`).
type Datatype int16

// Datatype codes defined by the NIfTI-1 standard.
const (
	Uint8      Datatype = 2
	Int16      Datatype = 4
	Int32      Datatype = 8
	Float32    Datatype = 16
	Complex64  Datatype = 32
	Float64    Datatype = 64
	RGB24      Datatype = 128
	Int8       Datatype = 256
	Uint16     Datatype = 512
	Uint32     Datatype = 768
	Int64      Datatype = 1024
	Uint64     Datatype = 1280
	Float128   Datatype = 1536
	Complex128 Datatype = 1792
	Complex256 Datatype = 2048
	RGBA32     Datatype = 2304
)

var datatypeNames = map[Datatype]string{
	Uint8: "uint8", Int16: "int16", Int32: "int32", Float32: "float32",
	Complex64: "complex64", Float64: "float64", RGB24: "RGB24", Int8: "int8",
	Uint16: "uint16", Uint32: "uint32", Int64: "int64", Uint64: "uint64",
	Float128: "float128", Complex128: "complex128", Complex256: "complex256",
	RGBA32: "RGBA32",
}

// String returns the numpy-style name of the datatype, or its code when
// the code is not defined by the standard.
func (d Datatype) String() string {
	if s, ok := datatypeNames[d]; ok {
		return s
	}
	return fmt.Sprintf("datatype(%d)", int16(d))
}

// Size returns the number of bytes of one voxel value, or 0 for a datatype
// this package cannot decode.
func (d Datatype) Size() int {
	switch d {
	case Uint8, Int8:
		return 1
	case Int16, Uint16:
		return 2
	case Int32, Uint32, Float32:
		return 4
	case Int64, Uint64, Float64:
		return 8
	}
	return 0
}

// Supported reports whether voxel values of this datatype can be read and
// written: all real integer and float types up to 64 bits. Complex, RGB and
// 128-bit floats are not supported.
func (d Datatype) Supported() bool { return d.Size() > 0 }

// Number is the set of Go element types that map one-to-one onto NIfTI
// datatypes.
type Number interface {
	uint8 | int8 | int16 | uint16 | int32 | uint32 | int64 | uint64 | float32 | float64
}

// DatatypeOf returns the NIfTI datatype that stores values of type T.
func DatatypeOf[T Number]() Datatype {
	var zero T
	switch any(zero).(type) {
	case uint8:
		return Uint8
	case int8:
		return Int8
	case int16:
		return Int16
	case uint16:
		return Uint16
	case int32:
		return Int32
	case uint32:
		return Uint32
	case int64:
		return Int64
	case uint64:
		return Uint64
	case float32:
		return Float32
	default:
		return Float64
	}
}
