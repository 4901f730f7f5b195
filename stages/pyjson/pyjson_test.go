package pyjson

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nnrunner/nnrunner/internal/sharedtest"
)

func TestFormatFloat(t *testing.T) {
	// Expected strings are Python 3.11 repr(float(x)).
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0.0"},
		{math.Copysign(0, -1), "-0.0"},
		{1, "1.0"},
		{-3, "-3.0"},
		{0.1, "0.1"},
		{1e-05, "1e-05"},
		{2.5e-05, "2.5e-05"},
		{0.0001, "0.0001"},
		{0.00012, "0.00012"},
		{1e15, "1000000000000000.0"},
		{1e16, "1e+16"},
		{123456789012345680.0, "1.2345678901234568e+17"},
		{5e-324, "5e-324"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
		{0.8264999985694885, "0.8264999985694885"},
		{2.9357396636158004, "2.9357396636158004"},
		{486420.0, "486420.0"},
		{math.NaN(), "NaN"},
		{math.Inf(1), "Infinity"},
		{math.Inf(-1), "-Infinity"},
	}
	for _, tt := range tests {
		if got := FormatFloat(tt.in); got != tt.want {
			t.Errorf("FormatFloat(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMarshal(t *testing.T) {
	o := NewObject()
	o.Set("b", []any{int64(1), 2.0, float32(0.5)})
	o.Set("a", NewObject())
	o.Set("c", []int{})
	o.Set("s", "é\u2028😀\x7f\x01\"\\\n/")
	o.Set("n", nil)
	o.Set("t", true)
	o.Set("b", []any{int64(1), 2.0, float32(0.5)}) // keeps its position
	tests := []struct {
		name string
		opt  Options
		want string
	}{
		// json.dumps(o)
		{"compact", Options{}, `{"b": [1, 2.0, 0.5], "a": {}, "c": [], "s": "\u00e9\u2028\ud83d\ude00\u007f\u0001\"\\\n/", "n": null, "t": true}`},
		// json.dumps(o, indent=4, sort_keys=True)
		{"indent sorted", Options{Indent: 4, SortKeys: true}, "{\n    \"a\": {},\n    \"b\": [\n        1,\n        2.0,\n        0.5\n    ],\n    \"c\": [],\n    \"n\": null,\n    \"s\": \"\\u00e9\\u2028\\ud83d\\ude00\\u007f\\u0001\\\"\\\\\\n/\",\n    \"t\": true\n}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Marshal(o, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("Marshal (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMarshalReflect(t *testing.T) {
	got, err := Marshal(map[string]any{"z": [][]int{{1, 2}, {3}}, "a": []bool{true}, "m": []string(nil)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a": [true], "m": null, "z": [[1, 2], [3]]}`
	if string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if _, err := Marshal(struct{}{}, Options{}); err == nil {
		t.Error("Marshal(struct) succeeded, want an error")
	}
}

func TestUnmarshal(t *testing.T) {
	v, err := Unmarshal([]byte(` {"z": [1, -2.5e-3, 1E2, NaN, -Infinity, Infinity], "a": {"x": "\u00e9\ud83d\ude00\/"}, "z": 0, "e": []} `))
	if err != nil {
		t.Fatal(err)
	}
	o := v.(*Object)
	if diff := cmp.Diff([]string{"z", "a", "e"}, o.Keys()); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	if z, _ := o.Get("z"); z != int64(0) {
		t.Errorf("z = %#v, want last value int64(0)", z)
	}
	a, _ := o.Get("a")
	if x, _ := a.(*Object).Get("x"); x != "é😀/" {
		t.Errorf("x = %q", x)
	}
	w, err := Unmarshal([]byte(`[1, -2.5e-3, 1E2, NaN, -Infinity, Infinity, 0, -0.0]`))
	if err != nil {
		t.Fatal(err)
	}
	l := w.([]any)
	if l[0] != int64(1) || l[1] != -2.5e-3 || l[2] != 100.0 || !math.IsNaN(l[3].(float64)) ||
		l[4] != math.Inf(-1) || l[5] != math.Inf(1) || l[6] != int64(0) || !math.Signbit(l[7].(float64)) {
		t.Errorf("decoded %#v", l)
	}
}

func TestUnmarshalErrors(t *testing.T) {
	for _, in := range []string{``, `{`, `{"a" 1}`, `{"a": 1,}`, `[1 2]`, `"abc`, `"\q"`, `01`, `1 2`, `{1: 2}`, `nul`, "\"a\x01\"", `99999999999999999999`} {
		if _, err := Unmarshal([]byte(in)); err == nil {
			t.Errorf("Unmarshal(%q) succeeded, want an error", in)
		}
	}
}

func TestObject(t *testing.T) {
	var o Object
	o.Set("a", 1)
	o.Set("b", 2)
	o.Set("c", []any{NewObject()})
	o.Delete("a")
	o.Set("a", 3)
	o.Delete("missing")
	if diff := cmp.Diff([]string{"b", "c", "a"}, o.Keys()); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	c := o.Clone()
	c.Get("c")
	inner, _ := c.Get("c")
	inner.([]any)[0].(*Object).Set("x", 1)
	orig, _ := o.Get("c")
	if orig.([]any)[0].(*Object).Len() != 0 {
		t.Error("Clone shares nested objects with the original")
	}
}

// TestRoundTripGolden decodes JSON files Python wrote for the golden
// datasets and re-encodes them with the same indent; the bytes must be
// identical. nnU-Net writes plans, fingerprints and splits with indent 4; the
// oracle's summaries use indent 1.
func TestRoundTripGolden(t *testing.T) {
	root := sharedtest.Path(t, "golden")
	var files []string
	for _, pat := range []string{"nnUNetPlans*.json", "dataset_fingerprint.json", "splits_final.json"} {
		m, err := filepath.Glob(filepath.Join(root, "upstream", "*", pat))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Skipf("no golden JSON files under %s", root)
	}
	summary := filepath.Join(root, "upstream", "Dataset501_SynthCTPre", "preprocessed_summary.json")
	for _, f := range append(files, summary) {
		indent := 4
		if f == summary {
			indent = 1
		}
		name, _ := filepath.Rel(root, f)
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			v, err := Unmarshal(want)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Marshal(v, Options{Indent: indent})
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("re-encoded bytes differ (%d vs %d bytes):\n%s", len(got), len(want),
					cmp.Diff(string(want), string(got)))
			}
		})
	}
}
