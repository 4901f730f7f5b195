package plans

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nnrunner/nnrunner/internal/sharedtest"
	"github.com/nnrunner/nnrunner/stages/pyjson"
)

// TestGoldenRoundTrip loads every upstream plans file, re-renders every
// configuration from its typed form and saves; the bytes must equal
// upstream's.
func TestGoldenRoundTrip(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(sharedtest.Path(t, "golden"), "upstream", "*", "nnUNetPlans*.json"))
	if len(files) == 0 {
		t.Skip("no golden plans")
	}
	for _, path := range files {
		t.Run(filepath.Base(filepath.Dir(path))+"/"+filepath.Base(path), func(t *testing.T) {
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range p.ConfigurationNames() {
				c, err := p.Configuration(name)
				if err != nil {
					t.Fatal(err)
				}
				p.SetConfiguration(name, c.Object())
			}
			out := filepath.Join(t.TempDir(), "plans.json")
			if err := p.Save(out); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("re-rendered plans differ (-upstream +ours):\n%s", diff)
			}
		})
	}
}

func TestGoldenAccessors(t *testing.T) {
	p, err := Load(filepath.Join(sharedtest.Path(t, "golden"), "upstream", "Dataset503_SynthMR", "nnUNetPlans.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.DatasetName(); got != "Dataset503_SynthMR" {
		t.Errorf("DatasetName = %q", got)
	}
	if diff := cmp.Diff([]int{2, 0, 1}, p.TransposeForward()); diff != "" {
		t.Errorf("TransposeForward: %s", diff)
	}
	if diff := cmp.Diff([]int{1, 2, 0}, p.TransposeBackward()); diff != "" {
		t.Errorf("TransposeBackward: %s", diff)
	}
	c, err := p.Configuration("3d_fullres")
	if err != nil {
		t.Fatal(err)
	}
	data, seg, prob := DefaultResampling()
	arch := NewPlainConvUNet(3, []int{32, 64, 128, 256},
		[][]int{{3, 3, 3}, {3, 3, 3}, {3, 3, 3}, {3, 3, 3}},
		[][]int{{1, 1, 1}, {2, 2, 2}, {2, 2, 2}, {1, 2, 2}})
	want := &Configuration{
		Name: "3d_fullres", DataIdentifier: "nnUNetPlans_3d_fullres", PreprocessorName: DefaultPreprocessor,
		BatchSize: 2, PatchSize: []int{28, 40, 48}, MedianImageSizeInVoxels: []float64{26, 34, 41},
		Spacing:              []float64{1.5, 1.0379999876022339, 1.0190000534057617},
		NormalizationSchemes: []string{"ZScoreNormalization", "ZScoreNormalization"},
		UseMaskForNorm:       []bool{true, true},
		ResamplingData:       data, ResamplingSeg: seg, ResamplingProbabilities: prob,
		Architecture: arch,
	}
	if diff := cmp.Diff(want, c, cmp.Comparer(func(a, b *pyjson.Object) bool {
		x, _ := pyjson.Marshal(a, pyjson.Options{})
		y, _ := pyjson.Marshal(b, pyjson.Options{})
		return string(x) == string(y)
	})); diff != "" {
		t.Errorf("Configuration (-want +got):\n%s", diff)
	}
	fg, err := p.ForegroundIntensityProperties()
	if err != nil {
		t.Fatal(err)
	}
	if len(fg) != 2 || fg[1].Max != 1612 || fg[0].Std != 126.85177612304688 || fg[0].Percentile00_5 != 130.60000610351562 {
		t.Errorf("ForegroundIntensityProperties = %+v", fg)
	}
}

const cascadePlans = `{
    "dataset_name": "D", "plans_name": "P",
    "transpose_forward": [0, 1, 2], "transpose_backward": [0, 1, 2],
    "configurations": {
        "3d_lowres": {%s},
        "3d_fullres": {"inherits_from": "3d_lowres", "batch_size": 4, "spacing": [1.0, 2.0, 2.0], "extra": 1},
        "3d_cascade_fullres": {"inherits_from": "3d_fullres", "previous_stage": "3d_lowres"}
    },
    "foreground_intensity_properties_by_modality": {"0": {"max": 1, "mean": 0.5, "median": 0.5, "min": 0, "percentile_00_5": 0, "percentile_99_5": 1, "std": 0.1}}
}`

func baseConfig() string {
	data, seg, prob := DefaultResampling()
	c := Configuration{
		DataIdentifier: "P_3d_lowres", PreprocessorName: DefaultPreprocessor, BatchSize: 2,
		PatchSize: []int{8, 8, 8}, MedianImageSizeInVoxels: []float64{10, 10, 10}, MedianImageSizeIsInt: true,
		Spacing: []float64{2, 4, 4}, NormalizationSchemes: []string{"CTNormalization"}, UseMaskForNorm: []bool{false},
		ResamplingData: data, ResamplingSeg: seg, ResamplingProbabilities: prob,
		Architecture: NewPlainConvUNet(3, []int{32, 64}, [][]int{{3, 3, 3}, {3, 3, 3}}, [][]int{{1, 1, 1}, {2, 2, 2}}),
		NextStage:    "3d_cascade_fullres",
	}
	b, _ := pyjson.Marshal(c.Object(), pyjson.Options{})
	s := string(b)
	return s[1 : len(s)-1]
}

func TestInheritance(t *testing.T) {
	doc, err := pyjson.Unmarshal([]byte(strings.Replace(cascadePlans, "%s", baseConfig(), 1)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := FromObject(doc.(*pyjson.Object))
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Configuration("3d_cascade_fullres")
	if err != nil {
		t.Fatal(err)
	}
	if c.BatchSize != 4 || c.Spacing[1] != 2 || c.PreviousStage != "3d_lowres" || c.NextStage != "3d_cascade_fullres" || c.DataIdentifier != "P_3d_lowres" {
		t.Errorf("resolved cascade = %+v", c)
	}
	if fg, err := p.ForegroundIntensityProperties(); err != nil || fg[0].Std != 0.1 {
		t.Errorf("legacy intensity key: %v %v", fg, err)
	}
	if _, err := p.Configuration("2d"); err == nil || !strings.Contains(err.Error(), `no configuration "2d" (available: 3d_lowres, 3d_fullres, 3d_cascade_fullres)`) {
		t.Errorf("missing configuration error = %v", err)
	}
}

func TestBadPlans(t *testing.T) {
	base := strings.Replace(cascadePlans, "%s", baseConfig(), 1)
	tests := []struct {
		name, from, to, want string
	}{
		{"cycle", `"inherits_from": "3d_lowres", "batch_size": 4`, `"inherits_from": "3d_cascade_fullres", "batch_size": 4`, "inheritance cycle"},
		{"missing parent", `"inherits_from": "3d_fullres", "previous_stage"`, `"inherits_from": "3d_midres", "previous_stage"`, `no configuration "3d_midres"`},
		{"bad transpose", `"transpose_backward": [0, 1, 2]`, `"transpose_backward": [1, 0, 2]`, "not the inverse"},
		{"missing key", `"dataset_name": "D", `, ``, `"dataset_name": missing`},
		{"bad batch", `"batch_size": 4`, `"batch_size": "4"`, `"batch_size": want an integer`},
		{"spacing axes", `"spacing": [1.0, 2.0, 2.0]`, `"spacing": [1.0, 2.0]`, "spacing has 2 axes"},
		{"bad channel key", `{"0": {"max"`, `{"1": {"max"`, `channel keys must be`},
		{"bad override", `"transpose_forward"`, `"nnrunner_overrides": {"batch_size": 0}, "transpose_forward"`, `"batch_size": 0, want >= 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := strings.Replace(base, tt.from, tt.to, 1)
			if text == base {
				t.Fatalf("replacement %q not found", tt.from)
			}
			doc, err := pyjson.Unmarshal([]byte(text))
			if err != nil {
				t.Fatal(err)
			}
			_, err = FromObject(doc.(*pyjson.Object))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestOverrides(t *testing.T) {
	p := New(Header{DatasetName: "D", PlansName: "P"})
	o := Overrides{BatchSize: 2, PatchSize: []int{16, 32, 32}, FeaturesBase: 8, FeaturesMax: 64}
	p.SetOverrides(o)
	got, err := p.Overrides()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(o, got); diff != "" {
		t.Errorf("Overrides (-want +got):\n%s", diff)
	}
	p.SetOverrides(Overrides{})
	if p.Object().Has(KeyOverrides) {
		t.Error("zero overrides still recorded")
	}
	if _, err := ParseOverrides(mustObject(t, `{"batch":2}`), "x"); err == nil {
		t.Error("unknown override key accepted")
	}
	if _, err := ParseOverrides(mustObject(t, `{"features_base": 64, "features_max": 32}`), "x"); err == nil {
		t.Error("features_max < features_base accepted")
	}
}

func mustObject(t *testing.T, s string) *pyjson.Object {
	t.Helper()
	v, err := pyjson.Unmarshal([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return v.(*pyjson.Object)
}

// TestOldFormat: a pre-2.3 configuration is converted to an architecture
// block as upstream's ConfigurationManager does.
func TestOldFormat(t *testing.T) {
	data, seg, prob := DefaultResampling()
	c := Configuration{
		DataIdentifier: "P_3d_fullres", PreprocessorName: DefaultPreprocessor, BatchSize: 2,
		PatchSize: []int{16, 64, 56}, MedianImageSizeInVoxels: []float64{15, 57, 52},
		Spacing: []float64{4.8, 0.85, 0.85}, NormalizationSchemes: []string{"CTNormalization"}, UseMaskForNorm: []bool{false},
		ResamplingData: data, ResamplingSeg: seg, ResamplingProbabilities: prob,
	}
	o := c.Object()
	o.Delete("architecture")
	for _, kv := range []struct {
		k string
		v string
	}{
		{"UNet_class_name", `"PlainConvUNet"`}, {"UNet_base_num_features", `32`}, {"unet_max_num_features", `320`},
		{"n_conv_per_stage_encoder", `[2, 2, 2, 2, 2]`}, {"n_conv_per_stage_decoder", `[2, 2, 2, 2]`},
		{"num_pool_per_axis", `[2, 4, 3]`},
		{"pool_op_kernel_sizes", `[[1, 1, 1], [1, 2, 2], [1, 2, 2], [2, 2, 2], [2, 2, 1]]`},
		{"conv_kernel_sizes", `[[1, 3, 3], [1, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]]`},
	} {
		v, err := pyjson.Unmarshal([]byte(kv.v))
		if err != nil {
			t.Fatal(err)
		}
		o.Set(kv.k, v)
	}
	p := New(Header{DatasetName: "D", PlansName: "P", TransposeForward: []int{0, 1, 2}, TransposeBackward: []int{0, 1, 2}})
	p.SetConfiguration("3d_fullres", o)
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	got, err := p.Configuration("3d_fullres")
	if err != nil {
		t.Fatal(err)
	}
	want := NewPlainConvUNet(3, []int{32, 64, 128, 256, 320},
		[][]int{{1, 3, 3}, {1, 3, 3}, {3, 3, 3}, {3, 3, 3}, {3, 3, 3}},
		[][]int{{1, 1, 1}, {1, 2, 2}, {1, 2, 2}, {2, 2, 2}, {2, 2, 1}})
	x, _ := pyjson.Marshal(want.Object(), pyjson.Options{})
	y, _ := pyjson.Marshal(got.Architecture.Object(), pyjson.Options{})
	if string(x) != string(y) {
		t.Errorf("converted architecture\n got %s\nwant %s", y, x)
	}
	if raw, _ := p.RawConfiguration("3d_fullres"); !raw.Has("UNet_class_name") {
		t.Error("conversion modified the stored configuration")
	}
	o.Set("UNet_class_name", "ResidualEncoderUNet")
	if _, err := p.Configuration("3d_fullres"); err == nil || !strings.Contains(err.Error(), "only PlainConvUNet") {
		t.Errorf("ResidualEncoderUNet error = %v", err)
	}
}

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"nnUNetPlans", true}, {"nnUNetPlans_pretrain", true},
		{"", false}, {".", false}, {"..", false}, {"a/b", false}, {`a\b`, false},
	} {
		err := CheckName(tc.name, "nnUNetPlans")
		if (err == nil) != tc.ok {
			t.Errorf("CheckName(%q) = %v, want ok %v", tc.name, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "e.g. nnUNetPlans") {
			t.Errorf("CheckName(%q): error %q lacks the example", tc.name, err)
		}
	}
}
