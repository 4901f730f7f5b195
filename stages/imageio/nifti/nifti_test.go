package nifti

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/klauspost/compress/gzip"

	"github.com/nnrunner/nnrunner/internal/sharedtest"
)

// reference is one entry of nifti-format-samples/reference_values.json
// (values read by nibabel 5.0.0).
type reference struct {
	NiftiVersion    int        `json:"nifti_version"`
	Endian          string     `json:"endian"`
	Shape           []int      `json:"shape"`
	Datatype        string     `json:"datatype"`
	DatatypeCode    int        `json:"datatype_code"`
	Bitpix          int        `json:"bitpix"`
	SclSlope        float64    `json:"scl_slope"`
	SclInter        float64    `json:"scl_inter"`
	Pixdim          [8]float64 `json:"pixdim"`
	QformCode       int32      `json:"qform_code"`
	SformCode       int32      `json:"sform_code"`
	AffineBest      Affine     `json:"affine_best"`
	Qform           Affine     `json:"qform"`
	Sform           Affine     `json:"sform"`
	ScaledSum       float64    `json:"scaled_sum"`
	RawSum          float64    `json:"raw_sum"`
	ScaledMin       float64    `json:"scaled_min"`
	ScaledMax       float64    `json:"scaled_max"`
	ValueAtCenter   float64    `json:"value_at_center_index"`
	CenterIndex     []int      `json:"center_index"`
	ValueAtFlat1000 float64    `json:"value_at_flat_F_order_1000"`
	SizeofHdr       int        `json:"sizeof_hdr"`
}

func loadReferences(t *testing.T) (string, map[string]reference) {
	dir := filepath.Join(sharedtest.Dir(t), "data", "nifti-format-samples")
	b, err := os.ReadFile(filepath.Join(dir, "reference_values.json"))
	if err != nil {
		t.Skipf("nifti-format-samples not available: %v", err)
	}
	refs := map[string]reference{}
	if err := json.Unmarshal(b, &refs); err != nil {
		t.Fatal(err)
	}
	if len(refs) == 0 {
		t.Fatal("reference_values.json holds no files")
	}
	return dir, refs
}

// fIndex returns the flat file-order (x fastest) index of idx in shape.
func fIndex(idx, shape []int) int {
	flat, stride := 0, 1
	for i := range idx {
		flat += idx[i] * stride
		stride *= shape[i]
	}
	return flat
}

func TestReadMatchesNibabel(t *testing.T) {
	dir, refs := loadReferences(t)
	affineTol := cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) })
	for name, want := range refs {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			h, data, err := ReadFile64(path)
			if err != nil {
				t.Fatal(err)
			}
			endian := "little"
			if h.ByteOrder == binary.BigEndian {
				endian = "big"
			}
			sizeof := map[int]int{1: 348, 2: 540}[h.Version]
			got := reference{
				NiftiVersion: h.Version, Endian: endian, Shape: h.Shape(),
				Datatype: h.Datatype.String(), DatatypeCode: int(h.Datatype), Bitpix: int(h.Bitpix),
				SclSlope: h.SclSlope, SclInter: h.SclInter, Pixdim: h.Pixdim,
				QformCode: h.QformCode, SformCode: h.SformCode, SizeofHdr: sizeof,
			}
			header := cmpopts.IgnoreFields(reference{}, "AffineBest", "Qform", "Sform", "ScaledSum", "RawSum",
				"ScaledMin", "ScaledMax", "ValueAtCenter", "CenterIndex", "ValueAtFlat1000")
			if d := cmp.Diff(want, got, header); d != "" {
				t.Errorf("header (-nibabel +ours):\n%s", d)
			}
			// sform and the best affine are exact; qform within 1e-12 (nibabel
			// builds the rotation in extended precision).
			if d := cmp.Diff(want.Sform, h.SForm()); d != "" {
				t.Errorf("sform (-nibabel +ours):\n%s", d)
			}
			if d := cmp.Diff(want.Qform, h.QForm(), affineTol); d != "" {
				t.Errorf("qform (-nibabel +ours):\n%s", d)
			}
			if d := cmp.Diff(want.AffineBest, h.BestAffine(), affineTol); d != "" {
				t.Errorf("best affine (-nibabel +ours):\n%s", d)
			}

			sum, lo, hi := 0.0, math.Inf(1), math.Inf(-1)
			for _, v := range data {
				sum += v
				lo, hi = min(lo, v), max(hi, v)
			}
			if math.Abs(sum-want.ScaledSum) > 1e-9*math.Abs(want.ScaledSum) {
				t.Errorf("scaled sum %v, nibabel %v", sum, want.ScaledSum)
			}
			if lo != want.ScaledMin || hi != want.ScaledMax {
				t.Errorf("min/max %v/%v, nibabel %v/%v", lo, hi, want.ScaledMin, want.ScaledMax)
			}
			if v := data[fIndex(want.CenterIndex, want.Shape)]; v != want.ValueAtCenter {
				t.Errorf("value at %v: %v, nibabel %v", want.CenterIndex, v, want.ValueAtCenter)
			}
			if data[1000] != want.ValueAtFlat1000 {
				t.Errorf("value at flat index 1000: %v, nibabel %v", data[1000], want.ValueAtFlat1000)
			}

			// Raw (unscaled) values.
			r, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			r.Header.SclSlope = 0
			raw := make([]float64, r.NumVoxels())
			if err := r.ReadFloat64(raw); err != nil {
				t.Fatal(err)
			}
			rawSum := 0.0
			for _, v := range raw {
				rawSum += v
			}
			if math.Abs(rawSum-want.RawSum) > 1e-9*math.Abs(want.RawSum) {
				t.Errorf("raw sum %v, nibabel %v", rawSum, want.RawSum)
			}

			// float32 reading is the float64 result rounded.
			_, data32, err := ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range data32 {
				if v != float32(data[i]) {
					t.Fatalf("float32 value %d: %v, want float32(%v)", i, v, data[i])
				}
			}
		})
	}
}

// TestRoundTrip writes every sample (big-endian and NIfTI-2 included) in
// its own datatype and in float32, and reads it back unchanged.
func TestRoundTrip(t *testing.T) {
	dir, refs := loadReferences(t)
	out := t.TempDir()
	for name := range refs {
		t.Run(name, func(t *testing.T) {
			r, err := Open(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			h := *r.Header
			h.SclSlope = 0 // read raw stored values
			r.Header.SclSlope = 0
			raw := make([]float64, r.NumVoxels())
			if err := r.ReadFloat64(raw); err != nil {
				t.Fatal(err)
			}
			h.SclSlope, h.SclInter = r.Header.SclSlope, r.Header.SclInter
			for _, ext := range []string{".nii", ".nii.gz"} {
				path := filepath.Join(out, strings.SplitN(name, ".", 2)[0]+ext)
				if err := writeAs(path, &h, raw); err != nil {
					t.Fatal(err)
				}
				h2, back, err := ReadFile64(path)
				if err != nil {
					t.Fatal(err)
				}
				if i := firstDiff(raw, back); i >= 0 {
					t.Fatalf("%s: value %d changed: wrote %v, read %v", ext, i, raw[i], back[i])
				}
				if h2.Datatype != h.Datatype || h2.Version != h.Version || h2.ByteOrder != binary.LittleEndian {
					t.Errorf("%s: datatype/version/order %v/%d/%v, want %v/%d/little", ext, h2.Datatype, h2.Version, h2.ByteOrder, h.Datatype, h.Version)
				}
				if d := cmp.Diff(h.Geometry, h2.Geometry); d != "" {
					t.Errorf("%s: geometry changed (-in +out):\n%s", ext, d)
				}
				if d := cmp.Diff(h.Dim, h2.Dim); d != "" {
					t.Errorf("%s: dims changed:\n%s", ext, d)
				}
			}
		})
	}
}

// firstDiff returns the first index where a and b differ (bitwise), or -1.
func firstDiff(a, b []float64) int {
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return i
		}
	}
	return -1
}

// writeAs writes float64 values in the datatype of h.
func writeAs(path string, h *Header, v []float64) error {
	switch h.Datatype {
	case Uint8:
		return WriteFile(path, h, convert[uint8](v))
	case Int16:
		return WriteFile(path, h, convert[int16](v))
	case Float64:
		return WriteFile(path, h, v)
	}
	return WriteFile(path, h, convert[float32](v))
}

func convert[T Number](v []float64) []T {
	out := make([]T, len(v))
	for i, x := range v {
		out[i] = T(x)
	}
	return out
}

// TestAllDatatypes writes every supported datatype, little- and
// big-endian, NIfTI-1 and -2, with and without scaling, and reads it back.
func TestAllDatatypes(t *testing.T) {
	vals := []float64{0, 1, 2, 3, 100, 127, 7, 5, 42, 9, 11, 13}
	base := Header{Version: 1, Dim: [8]int64{3, 3, 2, 2, 1, 1, 1, 1}, SclSlope: 1}
	base.Pixdim = [8]float64{1, 0.5, 0.75, 2.5, 1, 1, 1, 1}
	type enc func(w *bytes.Buffer, h *Header) error
	cases := []struct {
		name string
		dt   Datatype
		enc  enc
	}{
		{"uint8", Uint8, func(w *bytes.Buffer, h *Header) error { return Encode(w, h, convert[uint8](vals)) }},
		{"int8", Int8, func(w *bytes.Buffer, h *Header) error { return Encode(w, h, convert[int8](vals)) }},
		{"int16", Int16, func(w *bytes.Buffer, h *Header) error { return Encode(w, h, convert[int16](vals)) }},
		{"uint16", Uint16, func(w *bytes.Buffer, h *Header) error { return Encode(w, h, convert[uint16](vals)) }},
		{"int32", Int32, func(w *bytes.Buffer, h *Header) error { return Encode(w, h, convert[int32](vals)) }},
		{"uint32", Uint32, func(w *bytes.Buffer, h *Header) error { return Encode(w, h, convert[uint32](vals)) }},
		{"int64", Int64, func(w *bytes.Buffer, h *Header) error { return Encode(w, h, convert[int64](vals)) }},
		{"uint64", Uint64, func(w *bytes.Buffer, h *Header) error { return Encode(w, h, convert[uint64](vals)) }},
		{"float32", Float32, func(w *bytes.Buffer, h *Header) error { return Encode(w, h, convert[float32](vals)) }},
		{"float64", Float64, func(w *bytes.Buffer, h *Header) error { return Encode(w, h, vals) }},
	}
	for _, tc := range cases {
		for _, version := range []int{1, 2} {
			for _, big := range []bool{false, true} {
				for _, scaled := range []bool{false, true} {
					h := base
					h.Version = version
					if scaled {
						h.SclSlope, h.SclInter = 0.5, -3
					}
					var buf bytes.Buffer
					if err := tc.enc(&buf, &h); err != nil {
						t.Fatalf("%s: %v", tc.name, err)
					}
					b := buf.Bytes()
					if big {
						b = toBigEndian(t, b, tc.dt.Size())
					}
					got, data, err := Decode(b, tc.name)
					if err != nil {
						t.Fatalf("%s v%d big=%v: %v", tc.name, version, big, err)
					}
					if got.Datatype != tc.dt || got.Version != version {
						t.Errorf("%s v%d: read datatype %v version %d", tc.name, version, got.Datatype, got.Version)
					}
					for i, v := range vals {
						want := float32(v)
						if scaled {
							want = float32(v*0.5 - 3)
						}
						if data[i] != want {
							t.Fatalf("%s v%d big=%v scaled=%v: value %d = %v, want %v", tc.name, version, big, scaled, i, data[i], want)
						}
					}
				}
			}
		}
	}
}

// toBigEndian converts a little-endian image written by Encode to big
// endian: every header field and voxel value is byte-swapped.
func toBigEndian(t *testing.T, b []byte, size int) []byte {
	t.Helper()
	out := append([]byte(nil), b...)
	le := binary.LittleEndian
	var fields []struct{ off, n, width int }
	if le.Uint32(b) == sizeofHdr1 {
		fields = []struct{ off, n, width int }{
			{0, 1, 4}, {32, 1, 4}, {36, 1, 2}, {40, 8, 2}, {56, 3, 4}, {68, 4, 2}, {76, 8, 4},
			{108, 3, 4}, {120, 1, 2}, {124, 6, 4}, {252, 2, 2}, {256, 18, 4},
		}
	} else {
		fields = []struct{ off, n, width int }{
			{0, 1, 4}, {12, 2, 2}, {16, 8, 8}, {80, 3, 8}, {104, 8, 8}, {168, 9, 8},
			{344, 2, 4}, {352, 18, 8}, {496, 3, 4},
		}
	}
	for _, f := range fields {
		swapBytes(out[f.off:f.off+f.n*f.width], f.width)
	}
	off := int(le.Uint32(b))
	if off == sizeofHdr1 {
		off = minOffset1
	} else {
		off = minOffset2
	}
	swapBytes(out[off:], size)
	return out
}

func TestWriteFileDeterministicAndGzip(t *testing.T) {
	dir := t.TempDir()
	h := &Header{Version: 1, Dim: [8]int64{3, 4, 3, 2, 1, 1, 1, 1}, SclSlope: 1}
	h.Pixdim = [8]float64{1, 1, 1, 1}
	data := make([]int16, 24)
	for i := range data {
		data[i] = int16(i * 3)
	}
	a, b := filepath.Join(dir, "a.nii.gz"), filepath.Join(dir, "b.nii.gz")
	for _, p := range []string{a, b} {
		if err := WriteFile(p, h, data); err != nil {
			t.Fatal(err)
		}
	}
	ba, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if !bytes.Equal(ba, bb) {
		t.Error("equal inputs gave different files")
	}
	if len(ba) < 2 || ba[0] != 0x1f || ba[1] != 0x8b {
		t.Error(".nii.gz file is not gzip-compressed")
	}
	if st, err := os.Stat(a); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("file mode %v, %v; want 0644", st.Mode().Perm(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

// minimalImage returns a valid uncompressed NIfTI-1 image of 2x2x2 uint8.
func minimalImage(t testing.TB) []byte {
	h := &Header{Version: 1, Dim: [8]int64{3, 2, 2, 2, 1, 1, 1, 1}, SclSlope: 1}
	h.Pixdim = [8]float64{1, 1, 1, 1}
	var buf bytes.Buffer
	if err := Encode(&buf, h, []uint8{1, 2, 3, 4, 5, 6, 7, 8}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestMalformedErrors(t *testing.T) {
	good := minimalImage(t)
	le := binary.LittleEndian
	patch := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	// noisy float32 voxels compress poorly, so a cut gzip stream ends
	// inside the voxel data (read straight into the destination).
	floats := func() []byte {
		h := &Header{Version: 1, Dim: [8]int64{3, 10, 10, 10, 1, 1, 1, 1}, SclSlope: 1}
		h.Pixdim = [8]float64{1, 1, 1, 1}
		v := make([]float32, 1000)
		for i := range v {
			v[i] = float32(i*7919%1009) / 7
		}
		var buf bytes.Buffer
		if err := Encode(&buf, h, v); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}()
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"not nifti", []byte("hello world, this is not an image"), "not a NIfTI file"},
		{"bad magic", patch(func(b []byte) { copy(b[344:], "abc\x00") }), "magic"},
		{"pair", patch(func(b []byte) { copy(b[344:], "ni1\x00") }), "pair"},
		{"zero dims", patch(func(b []byte) { le.PutUint16(b[40:], 0) }), "number of dimensions"},
		{"negative dim", patch(func(b []byte) { le.PutUint16(b[44:], 0xffff) }), "invalid dimension dim[2]"},
		{"unknown datatype", patch(func(b []byte) { le.PutUint16(b[70:], 3) }), "unknown datatype code 3"},
		{"rgb", patch(func(b []byte) { le.PutUint16(b[70:], uint16(RGB24)) }), "RGB24"},
		{"complex", patch(func(b []byte) { le.PutUint16(b[70:], uint16(Complex64)) }), "complex64"},
		{"offset in header", patch(func(b []byte) { le.PutUint32(b[108:], math.Float32bits(100)) }), "inside the header"},
		{"truncated header", good[:200], "truncated NIfTI-1 header"},
		{"truncated data", good[:len(good)-3], "more than the file can hold"},
		{"huge dims", patch(func(b []byte) {
			for i := 1; i <= 3; i++ {
				le.PutUint16(b[40+2*i:], 30000)
			}
		}), "more than the file can hold"},
		{"truncated gzip data", gz(good)[:40], "truncated"},
		{"truncated gzip float32 data", gz(floats)[:len(gz(floats))*3/4], "truncated voxel data"},
		{"bad intercept", patch(func(b []byte) {
			le.PutUint32(b[112:], math.Float32bits(2))
			le.PutUint32(b[116:], math.Float32bits(float32(math.NaN())))
		}), "invalid scl_inter"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Decode(tc.in, "case_0000.nii")
			if err == nil {
				t.Fatalf("no error, want one containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "case_0000.nii") {
				t.Errorf("error %q, want it to name the file and contain %q", err, tc.want)
			}
		})
	}
}

func TestHeaderFixes(t *testing.T) {
	b := minimalImage(t)
	le := binary.LittleEndian
	le.PutUint32(b[76:], math.Float32bits(0))   // qfac 0 -> 1
	le.PutUint32(b[80:], math.Float32bits(-2))  // negative -> abs
	le.PutUint32(b[84:], math.Float32bits(0))   // zero -> 1
	le.PutUint16(b[252:], 9)                    // unknown qform code -> 0
	le.PutUint32(b[108:], math.Float32bits(0))  // offset 0 -> after header
	le.PutUint32(b[112:], math.Float32bits(0))  // slope 0 -> unscaled
	le.PutUint32(b[116:], math.Float32bits(50)) // intercept ignored
	h, data, err := Decode(b, "x.nii")
	if err != nil {
		t.Fatal(err)
	}
	if h.Pixdim[0] != 1 || h.Pixdim[1] != 2 || h.Pixdim[2] != 1 || h.QformCode != 0 {
		t.Errorf("pixdim %v qform_code %d, want fixed [1 2 1 1 ...] and 0", h.Pixdim, h.QformCode)
	}
	if d := cmp.Diff([]float32{1, 2, 3, 4, 5, 6, 7, 8}, data); d != "" {
		t.Errorf("data:\n%s", d)
	}
	if d := cmp.Diff(Affine{{-2, 0, 0, 1}, {0, 1, 0, -0.5}, {0, 0, 1, -0.5}, {0, 0, 0, 1}}, h.BestAffine()); d != "" {
		t.Errorf("base affine:\n%s", d)
	}
}

func FuzzRead(f *testing.F) {
	good := minimalImage(f)
	f.Add(good)
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(good)
	w.Close()
	f.Add(buf.Bytes())
	h2 := &Header{Version: 2, Dim: [8]int64{2, 2, 2, 1, 1, 1, 1, 1}, SclSlope: 2}
	var b2 bytes.Buffer
	if err := Encode(&b2, h2, []float32{1, 2, 3, 4}); err != nil {
		f.Fatal(err)
	}
	f.Add(b2.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		h, data, err := Decode(b, "fuzz.nii")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.nii") {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		if int64(len(data)) != h.NumVoxels() {
			t.Errorf("%d values for dims %v", len(data), h.Shape())
		}
	})
}

// BenchmarkReadFile decodes reference samples to float32 (example_ct_sm:
// 122x101x30 int16, 483 KB compressed; ascm_out_test: 58x58x24 float64).
func BenchmarkReadFile(b *testing.B) {
	dir := filepath.Join(sharedtest.Dir(b), "data", "nifti-format-samples")
	for _, name := range []string{"example_ct_sm.nii.gz", "ascm_out_test.nii.gz", "anatomical.nii"} {
		path := filepath.Join(dir, name)
		st, err := os.Stat(path)
		if err != nil {
			b.Skipf("sample missing: %v", err)
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(st.Size())
			for i := 0; i < b.N; i++ {
				if _, _, err := ReadFile(path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWriteFile writes a 122x101x30 uint8 label map as .nii.gz.
func BenchmarkWriteFile(b *testing.B) {
	h := &Header{Version: 1, Dim: [8]int64{3, 122, 101, 30, 1, 1, 1, 1}, SclSlope: 1}
	h.Pixdim = [8]float64{1, 1, 1, 1}
	data := make([]uint8, h.NumVoxels())
	for i := range data {
		data[i] = uint8((i / 997) % 5)
	}
	path := filepath.Join(b.TempDir(), "seg.nii.gz")
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		if err := WriteFile(path, h, data); err != nil {
			b.Fatal(err)
		}
	}
}

// TestExtensionsSkipped reads an image whose header is followed by a
// 16-byte extension, with vox_offset pointing past it.
func TestExtensionsSkipped(t *testing.T) {
	good := minimalImage(t)
	b := append([]byte(nil), good[:minOffset1]...)
	b[348] = 1 // extension flag
	ext := make([]byte, 16)
	binary.LittleEndian.PutUint32(ext, 16)
	binary.LittleEndian.PutUint32(ext[4:], 6) // comment extension
	copy(ext[8:], "hello!")
	b = append(b, ext...)
	b = append(b, good[minOffset1:]...)
	binary.LittleEndian.PutUint32(b[108:], math.Float32bits(minOffset1+16))
	h, data, err := Decode(b, "ext.nii")
	if err != nil {
		t.Fatal(err)
	}
	if h.VoxOffset != minOffset1+16 {
		t.Errorf("vox_offset %d", h.VoxOffset)
	}
	if d := cmp.Diff([]float32{1, 2, 3, 4, 5, 6, 7, 8}, data); d != "" {
		t.Errorf("data:\n%s", d)
	}
}

// TestReaderReuse reads gzip and plain files in turn through pooled
// decoding state, and checks that a closed Reader refuses to read.
func TestReaderReuse(t *testing.T) {
	dir := t.TempDir()
	h := &Header{Version: 1, Dim: [8]int64{3, 40, 30, 20, 1, 1, 1, 1}, SclSlope: 1}
	h.Pixdim = [8]float64{1, 1, 1, 1}
	for _, tc := range []struct{ name, file string }{{"gzip", "a.nii.gz"}, {"plain", "b.nii"}, {"gzip again", "c.nii.gz"}} {
		t.Run(tc.name, func(t *testing.T) {
			data := make([]float32, 40*30*20)
			for i := range data {
				data[i] = float32(i%977) * float32(len(tc.file))
			}
			path := filepath.Join(dir, tc.file)
			if err := WriteFile(path, h, data); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				_, got, err := ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(data, got); diff != "" {
					t.Fatalf("data (-written +read):\n%s", diff)
				}
			}
			r, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			if err := r.ReadFloat32(make([]float32, r.NumVoxels())); err == nil {
				t.Fatal("reading a closed Reader succeeded")
			}
		})
	}
}
