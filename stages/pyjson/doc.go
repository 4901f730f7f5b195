// Package pyjson reads and writes JSON the way Python's json module does, so
// that files written by nnU-Net (json.dump with indent=4) can be reproduced
// byte for byte and edited without losing their key order.
//
// Encoding follows json.dump(obj, indent=N, sort_keys=..., ensure_ascii=True):
// floats use Python's repr (shortest round-trip digits, "1.0", "1e-05"),
// NaN and infinities are written bare (NaN, Infinity, -Infinity), and
// non-ASCII characters are escaped as \uXXXX.
//
// Decoding keeps object key order (*Object), keeps integers (int64) apart
// from floats (float64) as Python does, and accepts NaN/Infinity.
package pyjson
