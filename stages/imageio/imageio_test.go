package imageio

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nnrunner/nnrunner/internal/sharedtest"
	"github.com/nnrunner/nnrunner/stages/imageio/nifti"
)

// goldenCases returns, for a golden dataset, its sorted case ids and the
// folder holding imagesTr/labelsTr.
func goldenCases(t *testing.T, shared, dataset string) (ids []string, root string) {
	t.Helper()
	raw := filepath.Join(shared, "golden", "raw", dataset)
	if ids, ok := sharedtest.ListedCases(t, raw); ok {
		sort.Strings(ids)
		return ids, filepath.Join(shared, "data", "msd-hippocampus")
	}
	entries, err := os.ReadDir(filepath.Join(raw, "imagesTr"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		if name := e.Name(); strings.HasSuffix(name, "_0000.nii.gz") {
			id := strings.TrimSuffix(name, "_0000.nii.gz")
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	sort.Strings(ids)
	return ids, raw
}

func channelFiles(t *testing.T, root, id string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "imagesTr", id+"_[0-9][0-9][0-9][0-9].nii.gz"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no channel files for %s in %s", id, root)
	}
	sort.Strings(files)
	return files
}

// TestGoldenSpacing reads every case of every golden dataset and compares
// the spacing with upstream's dataset_fingerprint.json and, where a
// preprocessed case was exported, spacing and sitk_stuff with its
// properties, exactly.
func TestGoldenSpacing(t *testing.T) {
	shared := sharedtest.Dir(t)
	datasets, _ := filepath.Glob(filepath.Join(shared, "golden", "upstream", "Dataset*"))
	if len(datasets) == 0 {
		t.Skip("no golden datasets")
	}
	for _, up := range datasets {
		name := filepath.Base(up)
		t.Run(name, func(t *testing.T) {
			var fp struct {
				Spacings [][3]float64 `json:"spacings"`
			}
			readJSON(t, filepath.Join(up, "dataset_fingerprint.json"), &fp)
			ids, root := goldenCases(t, shared, name)
			if len(ids) != len(fp.Spacings) {
				t.Fatalf("%d cases, fingerprint has %d spacings", len(ids), len(fp.Spacings))
			}
			for i, id := range ids {
				files := channelFiles(t, root, id)
				im, err := ReadImages(files)
				if err != nil {
					t.Fatal(err)
				}
				if im.Spacing != fp.Spacings[i] {
					t.Errorf("%s: spacing %v, upstream %v", id, im.Spacing, fp.Spacings[i])
				}
				if im.Shape[0] != len(files) || len(im.Data) != im.Shape[0]*im.NumVoxels() {
					t.Errorf("%s: shape %v for %d files, %d values", id, im.Shape, len(files), len(im.Data))
				}
			}
			props, _ := filepath.Glob(filepath.Join(up, "*", "*_properties.json"))
			for _, p := range props {
				var want struct {
					SITK    SITKStuff  `json:"sitk_stuff"`
					Spacing [3]float64 `json:"spacing"`
				}
				readJSON(t, p, &want)
				id := strings.TrimSuffix(filepath.Base(p), "_properties.json")
				im, err := ReadImages(channelFiles(t, root, id))
				if err != nil {
					t.Fatal(err)
				}
				if im.Spacing != want.Spacing {
					t.Errorf("%s: spacing %v, properties %v", p, im.Spacing, want.Spacing)
				}
				if d := cmp.Diff(want.SITK, im.Geometry.SITK); d != "" {
					t.Errorf("%s: sitk_stuff (-upstream +ours):\n%s", p, d)
				}
			}
		})
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// writeVolume writes a small float32 test image with the given file dims,
// pixdim and RAS translation.
func writeVolume(t *testing.T, path string, dims []int, pix []float64, fill func(i int) float32) {
	t.Helper()
	h := &nifti.Header{Version: 1, SclSlope: 1}
	h.Dim[0] = int64(len(dims))
	n := 1
	for i := range h.Dim[1:] {
		h.Dim[i+1] = 1
		h.Pixdim[i+1] = 1
	}
	for i, d := range dims {
		h.Dim[i+1] = int64(d)
		h.Pixdim[i+1] = pix[i]
		n *= d
	}
	h.Pixdim[0] = 1
	h.QformCode, h.SformCode = 1, 1
	h.QoffsetX, h.QoffsetY, h.QoffsetZ = -10, 20, 30
	h.SrowX = [4]float64{pix[0], 0, 0, -10}
	h.SrowY = [4]float64{0, pix[1], 0, 20}
	if len(pix) > 2 {
		h.SrowZ = [4]float64{0, 0, pix[2], 30}
	} else {
		h.SrowZ = [4]float64{0, 0, 1, 30}
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = fill(i)
	}
	if err := nifti.WriteFile(path, h, data); err != nil {
		t.Fatal(err)
	}
}

func TestReadLayouts(t *testing.T) {
	dir := t.TempDir()
	ramp := func(i int) float32 { return float32(i) }
	cases := []struct {
		name    string
		dims    []int
		pix     []float64
		shape   [4]int
		spacing [3]float64
		sitk    SITKStuff
	}{
		{"3d", []int{4, 3, 2}, []float64{0.5, 0.75, 2.5}, [4]int{1, 2, 3, 4}, [3]float64{2.5, 0.75, 0.5},
			SITKStuff{[]float64{0.5, 0.75, 2.5}, []float64{10, -20, 30}, []float64{-1, -0, -0, -0, -1, -0, 0, 0, 1}}},
		{"2d", []int{5, 3}, []float64{0.5, 0.25}, [4]int{1, 1, 3, 5}, [3]float64{499.5, 0.25, 0.5},
			SITKStuff{[]float64{0.5, 0.25}, []float64{10, -20}, []float64{-1, -0, -0, -1}}},
		{"4d channels", []int{4, 3, 2, 3}, []float64{1, 1, 2, 1}, [4]int{3, 2, 3, 4}, [3]float64{2, 1, 1},
			SITKStuff{[]float64{1, 1, 2}, []float64{10, -20, 30}, []float64{-1, -0, -0, -0, -1, -0, 0, 0, 1}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".nii.gz")
			writeVolume(t, path, tc.dims, tc.pix, ramp)
			im, err := ReadImages([]string{path})
			if err != nil {
				t.Fatal(err)
			}
			if im.Shape != tc.shape || im.Spacing != tc.spacing {
				t.Errorf("shape %v spacing %v, want %v %v", im.Shape, im.Spacing, tc.shape, tc.spacing)
			}
			if d := cmp.Diff(tc.sitk, im.Geometry.SITK); d != "" {
				t.Errorf("sitk_stuff:\n%s", d)
			}
			// File order (x fastest) is C order of the reversed shape.
			for i, v := range im.Data {
				if v != float32(i) {
					t.Fatalf("value %d = %v, want %d", i, v, i)
				}
			}
			// A reused buffer (dirty, larger) and one too small give the
			// same image; the large one is shared.
			for _, size := range []int{len(im.Data) + 7, len(im.Data) - 1} {
				buf := make([]float32, size)
				for i := range buf {
					buf[i] = -1
				}
				into, err := ReadImagesInto([]string{path}, buf)
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(im, into); d != "" {
					t.Fatalf("buffer of %d: ReadImagesInto differs from ReadImages:\n%s", size, d)
				}
				if shared := &into.Data[0] == &buf[0]; shared != (size >= len(im.Data)) {
					t.Errorf("buffer of %d: data shares the buffer = %v", size, shared)
				}
			}
		})
	}
}

func TestReadImagesMismatch(t *testing.T) {
	dir := t.TempDir()
	one := func(int) float32 { return 1 }
	a := filepath.Join(dir, "case_0000.nii.gz")
	b := filepath.Join(dir, "case_0001.nii.gz")
	c := filepath.Join(dir, "case_0002.nii.gz")
	d := filepath.Join(dir, "case_0003.nii.gz")
	writeVolume(t, a, []int{4, 3, 2}, []float64{1, 1, 3}, one)
	writeVolume(t, b, []int{4, 3, 3}, []float64{1, 1, 3}, one)
	writeVolume(t, c, []int{4, 3, 2}, []float64{1, 1, 3.1}, one)
	writeVolume(t, d, []int{4, 3, 2}, []float64{1, 1, 3.000001}, one)
	cases := []struct {
		name    string
		paths   []string
		want    string   // "" for success
		mention []string // files the error must name
	}{
		{"same grid", []string{a, d}, "", nil},
		{"shape", []string{a, b}, "shape mismatch", []string{a, b}},
		{"spacing", []string{a, c}, "spacing mismatch", []string{a, c}},
		{"missing", []string{a, filepath.Join(dir, "nope.nii.gz")}, "no such file", []string{"nope.nii.gz"}},
		{"none", nil, "no files", nil},
		{"not nifti", []string{a, filepath.Join(dir, "case_0001.png")}, "only NIfTI", []string{"case_0001.png"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			im, err := ReadImages(tc.paths)
			if tc.want == "" {
				if err != nil || im.Shape[0] != len(tc.paths) {
					t.Fatalf("err %v, image %v", err, im)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			for _, p := range tc.mention {
				if !strings.Contains(err.Error(), filepath.Base(p)) {
					t.Errorf("error %q does not name %s", err, p)
				}
			}
		})
	}
}

func TestWriteSegRoundTrip(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name     string
		dims     []int
		pix      []float64
		maxLabel int
		dtype    nifti.Datatype
	}{
		{"3d uint8", []int{5, 4, 3}, []float64{0.5, 0.75, 2.5}, 254, nifti.Uint8},
		{"3d uint16", []int{5, 4, 3}, []float64{0.5, 0.75, 2.5}, 255, nifti.Uint16},
		{"2d", []int{5, 4}, []float64{0.5, 0.75}, 3, nifti.Uint8},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := filepath.Join(dir, "img.nii.gz")
			writeVolume(t, src, tc.dims, tc.pix, func(i int) float32 { return float32(i) * 0.5 })
			im, err := ReadImages([]string{src})
			if err != nil {
				t.Fatal(err)
			}
			seg := make([]int16, im.NumVoxels())
			for i := range seg {
				seg[i] = int16(i % (tc.maxLabel + 1))
			}
			seg[len(seg)-1] = int16(tc.maxLabel)
			shape := [3]int{im.Shape[1], im.Shape[2], im.Shape[3]}
			out := filepath.Join(dir, "seg.nii.gz")
			if err := WriteSeg(out, seg, shape, im.Geometry); err != nil {
				t.Fatal(err)
			}
			back, err := ReadSeg(out)
			if err != nil {
				t.Fatal(err)
			}
			h, err := nifti.ReadHeader(out)
			if err != nil {
				t.Fatal(err)
			}
			if h.Datatype != tc.dtype {
				t.Errorf("stored as %v, want %v", h.Datatype, tc.dtype)
			}
			if back.Shape != im.Shape || back.Spacing != im.Spacing {
				t.Errorf("shape/spacing %v %v, want %v %v", back.Shape, back.Spacing, im.Shape, im.Spacing)
			}
			if d := cmp.Diff(im.Geometry, back.Geometry); d != "" {
				t.Errorf("geometry changed (-image +seg):\n%s", d)
			}
			for i, v := range back.Data {
				if v != float32(seg[i]) {
					t.Fatalf("label %d = %v, want %d", i, v, seg[i])
				}
			}
		})
	}
}

func TestWriteSegErrors(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "img.nii.gz")
	writeVolume(t, src, []int{2, 2, 2}, []float64{1, 1, 1}, func(int) float32 { return 0 })
	im, err := ReadImages([]string{src})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "seg.nii.gz")
	cases := []struct {
		name  string
		seg   []int32
		shape [3]int
		want  string
	}{
		{"negative", []int32{0, 1, 2, -1, 0, 0, 0, 0}, [3]int{2, 2, 2}, "labels span"},
		{"too large", []int32{0, 1, 2, 70000, 0, 0, 0, 0}, [3]int{2, 2, 2}, "labels span"},
		{"wrong shape", make([]int32, 8), [3]int{1, 2, 4}, "does not match"},
		{"wrong length", make([]int32, 7), [3]int{2, 2, 2}, "7 values"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := WriteSeg(out, tc.seg, tc.shape, im.Geometry)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), out) {
				t.Fatalf("error %v, want one naming %s and containing %q", err, out, tc.want)
			}
		})
	}
}

// TestGeometryJSON checks that a geometry survives a JSON round trip
// (preprocessing stores it in the case properties) without loss.
func TestGeometryJSON(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "img.nii.gz")
	writeVolume(t, src, []int{3, 2, 2}, []float64{0.79, 0.79, 3}, func(int) float32 { return 0 })
	im, err := ReadImages([]string{src})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(im.Geometry)
	if err != nil {
		t.Fatal(err)
	}
	var back Geometry
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(im.Geometry, back); d != "" {
		t.Errorf("geometry changed through JSON:\n%s", d)
	}
	if math.Float32bits(float32(back.SITK.Spacing[0])) != math.Float32bits(0.79) {
		t.Errorf("spacing %v is not the float32 0.79 widened", back.SITK.Spacing[0])
	}
}

// BenchmarkReadHippocampus reads the first 32 MSD Hippocampus images
// (float32 and uint8 .nii.gz, about 35x50x35 voxels each).
func BenchmarkReadHippocampus(b *testing.B) {
	files, _ := filepath.Glob(filepath.Join(sharedtest.Dir(b), "data", "msd-hippocampus", "imagesTr", "*.nii.gz"))
	if len(files) == 0 {
		b.Skip("msd-hippocampus not available")
	}
	sort.Strings(files)
	files = files[:min(32, len(files))]
	b.ResetTimer()
	voxels := 0
	for i := 0; i < b.N; i++ {
		for _, f := range files {
			im, err := ReadImages([]string{f})
			if err != nil {
				b.Fatal(err)
			}
			voxels += len(im.Data)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(files))/1e6, "ms/image")
	b.ReportMetric(float64(voxels)/b.Elapsed().Seconds()/1e6, "Mvoxel/s")
}

// TestNonFiniteGeometry: unused non-finite header fields are zeroed so the
// geometry can be stored as JSON; a non-finite sform in use is an error.
func TestNonFiniteGeometry(t *testing.T) {
	dir := t.TempDir()
	nan := math.NaN()
	cases := []struct {
		name string
		edit func(h *nifti.Header)
		want string // "" for success
	}{
		{"nan pixdim[5]", func(h *nifti.Header) { h.Pixdim[5] = nan }, ""},
		{"nan unused sform", func(h *nifti.Header) { h.SformCode = 0; h.SrowX[3] = nan }, ""},
		{"nan sform", func(h *nifti.Header) { h.SrowY[3] = nan }, "non-finite sform"},
		{"inf qform", func(h *nifti.Header) { h.QoffsetZ = math.Inf(1) }, "non-finite qform"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &nifti.Header{Version: 1, Dim: [8]int64{3, 2, 2, 2, 1, 1, 1, 1}, SclSlope: 1}
			h.Pixdim = [8]float64{1, 1, 1, 1, 1, 1, 1, 1}
			h.QformCode, h.SformCode = 1, 1
			h.SrowX, h.SrowY, h.SrowZ = [4]float64{1, 0, 0, 0}, [4]float64{0, 1, 0, 0}, [4]float64{0, 0, 1, 0}
			tc.edit(h)
			path := filepath.Join(dir, "img.nii")
			if err := nifti.WriteFile(path, h, make([]float32, 8)); err != nil {
				t.Fatal(err)
			}
			im, err := ReadImages([]string{path})
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
					t.Fatalf("error %v, want one naming %s and containing %q", err, path, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := json.Marshal(im.Geometry); err != nil {
				t.Errorf("geometry not storable as JSON: %v", err)
			}
		})
	}
}
