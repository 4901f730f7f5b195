package npy

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nnrunner/nnrunner/internal/sharedtest"
)

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		shape []int
		write func(*bytes.Buffer, []int) error
		check func(*testing.T, *Array)
	}{
		{"float32", []int{1, 2, 3}, func(b *bytes.Buffer, s []int) error {
			return Write(b, s, []float32{0, -1.5, 2, 3e-8, 4, 5})
		}, func(t *testing.T, a *Array) {
			v, err := a.Float32()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]float32{0, -1.5, 2, 3e-8, 4, 5}, v); diff != "" {
				t.Error(diff)
			}
		}},
		{"int8", []int{4}, func(b *bytes.Buffer, s []int) error {
			return Write(b, s, []int8{-1, 0, 1, 127})
		}, func(t *testing.T, a *Array) {
			v, err := a.Int64s()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]int64{-1, 0, 1, 127}, v); diff != "" {
				t.Error(diff)
			}
		}},
		{"int64 2-D", []int{2, 2}, func(b *bytes.Buffer, s []int) error {
			return Write(b, s, []int64{0, 1 << 40, -7, 3})
		}, func(t *testing.T, a *Array) {
			v, err := a.Int64s()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]int64{0, 1 << 40, -7, 3}, v); diff != "" {
				t.Error(diff)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.write(&b, tc.shape); err != nil {
				t.Fatal(err)
			}
			hdrEnd := bytes.IndexByte(b.Bytes(), '\n') + 1
			if hdrEnd%64 != 0 {
				t.Errorf("data starts at %d, want a multiple of 64", hdrEnd)
			}
			a, err := Read(&b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.shape, a.Shape); diff != "" {
				t.Error(diff)
			}
			tc.check(t, a)
		})
	}
}

func TestShapeMismatch(t *testing.T) {
	if err := Write(&bytes.Buffer{}, []int{2, 2}, []float32{1}); err == nil {
		t.Fatal("want an error for 1 value with shape (2, 2)")
	}
}

// TestNumpyBytes checks that re-encoding a file numpy wrote gives the same
// bytes (header layout included).
func TestNumpyBytes(t *testing.T) {
	dir := filepath.Join(sharedtest.Dir(t), "golden", "upstream", "Dataset503_SynthMR", "nnUNetPlans_3d_fullres")
	for _, name := range []string{"mr_000_data.npy", "mr_000_seg.npy"} {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		a, err := Read(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		switch a.Descr {
		case "<f4":
			v, _ := a.Float32()
			err = Write(&b, a.Shape, v)
		case "<i2":
			v, _ := a.Int64s()
			s := make([]int16, len(v))
			for i, x := range v {
				s[i] = int16(x)
			}
			err = Write(&b, a.Shape, s)
		default:
			t.Fatalf("%s: unexpected dtype %s", name, a.Descr)
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(raw, b.Bytes()) {
			t.Errorf("%s: re-encoded bytes differ (header %q vs %q)", name, raw[:80], b.Bytes()[:80])
		}
	}
}
