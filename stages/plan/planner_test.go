package plan

import (
	"reflect"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nnrunner/nnrunner/stages/fingerprint"
	"github.com/nnrunner/nnrunner/stages/plans"
)

// TestPoolConvProps checks spec Appendix B.3.
func TestPoolConvProps(t *testing.T) {
	tests := []struct {
		spacing, patch []float64
		want           Topology
	}{
		{[]float64{1, 1, 1}, []float64{36, 50, 35}, Topology{
			NumPoolPerAxis: []int{3, 3, 3},
			Strides:        [][]int{{1, 1, 1}, {2, 2, 2}, {2, 2, 2}, {2, 2, 2}},
			KernelSizes:    [][]int{{3, 3, 3}, {3, 3, 3}, {3, 3, 3}, {3, 3, 3}},
			PatchSize:      []int{40, 56, 40}, Divisible: []int{8, 8, 8},
		}},
		{[]float64{1, 1}, []float64{50, 35}, Topology{
			NumPoolPerAxis: []int{3, 3},
			Strides:        [][]int{{1, 1}, {2, 2}, {2, 2}, {2, 2}},
			KernelSizes:    [][]int{{3, 3}, {3, 3}, {3, 3}, {3, 3}},
			PatchSize:      []int{56, 40}, Divisible: []int{8, 8},
		}},
		{[]float64{4.822, 0.856, 0.856}, []float64{15, 57, 52}, Topology{
			NumPoolPerAxis: []int{2, 4, 3},
			Strides:        [][]int{{1, 1, 1}, {1, 2, 2}, {1, 2, 2}, {2, 2, 2}, {2, 2, 1}},
			KernelSizes:    [][]int{{1, 3, 3}, {1, 3, 3}, {3, 3, 3}, {3, 3, 3}, {3, 3, 3}},
			PatchSize:      []int{16, 64, 56}, Divisible: []int{4, 16, 8},
		}},
		{[]float64{3.0, 0.7, 0.7}, []float64{40, 512, 512}, Topology{
			NumPoolPerAxis: []int{3, 7, 7},
			Strides:        [][]int{{1, 1, 1}, {1, 2, 2}, {1, 2, 2}, {2, 2, 2}, {2, 2, 2}, {2, 2, 2}, {1, 2, 2}, {1, 2, 2}},
			KernelSizes:    [][]int{{1, 3, 3}, {1, 3, 3}, {3, 3, 3}, {3, 3, 3}, {3, 3, 3}, {3, 3, 3}, {3, 3, 3}, {3, 3, 3}},
			PatchSize:      []int{40, 512, 512}, Divisible: []int{8, 128, 128},
		}},
		// A fractional (median-clipped) patch is padded with float modulo.
		// (Dataset992's 3d_fullres, Appendix B.5.)
		{[]float64{1, 1, 1}, []float64{59.5, 55.5, 58}, Topology{
			NumPoolPerAxis: []int{4, 3, 4},
			Strides:        [][]int{{1, 1, 1}, {2, 2, 2}, {2, 2, 2}, {2, 2, 2}, {2, 1, 2}},
			KernelSizes:    [][]int{{3, 3, 3}, {3, 3, 3}, {3, 3, 3}, {3, 3, 3}, {3, 3, 3}},
			PatchSize:      []int{64, 56, 64}, Divisible: []int{16, 8, 16},
		}},
	}
	for _, tt := range tests {
		got := PoolConvProps(tt.spacing, tt.patch, 4, 999999)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("PoolConvProps(%v, %v) (-want +got):\n%s", tt.spacing, tt.patch, diff)
		}
	}
}

// TestFeatureMapSize checks the feature-map estimates of Appendix B.3.
func TestFeatureMapSize(t *testing.T) {
	tests := []struct {
		patch   []int
		strides [][]int
		want    int64
	}{
		{[]int{40, 56, 40}, [][]int{{1, 1, 1}, {2, 2, 2}, {2, 2, 2}, {2, 2, 2}}, 19174400},
		{[]int{56, 40}, [][]int{{1, 1}, {2, 2}, {2, 2}, {2, 2}}, 651840},
		{[]int{16, 64, 56}, [][]int{{1, 1, 1}, {1, 2, 2}, {1, 2, 2}, {2, 2, 2}, {2, 2, 1}}, 16873472},
	}
	for _, tt := range tests {
		n := len(tt.strides)
		a := plans.NewPlainConvUNet(len(tt.patch), []int{32, 64, 128, 256, 320}[:n], nil, tt.strides)
		got := FeatureMapSize(tt.patch, a.FeaturesPerStage, tt.strides, a.NConvPerStage, a.NConvPerStageDecoder, 3)
		if got != tt.want {
			t.Errorf("FeatureMapSize(%v) = %d, want %d", tt.patch, got, tt.want)
		}
	}
}

func TestPercentileAndTranspose(t *testing.T) {
	if got := percentile([]float64{5, 5, 4, 6, 3, 5, 2.5, 5, 5, 5}, 10); got != 2.95 {
		t.Errorf("percentile(..., 10) = %v, want 2.95", got)
	}
	fwd, bwd := transpose([]float64{0.79, 0.79, 2.25})
	if !slices.Equal(fwd, []int{2, 0, 1}) || !slices.Equal(bwd, []int{1, 2, 0}) {
		t.Errorf("transpose = %v, %v; want [2 0 1], [1 2 0]", fwd, bwd)
	}
}

func TestNormalizationScheme(t *testing.T) {
	for ch, want := range map[string]string{
		"CT": "CTNormalization", "ct": "CTNormalization", "noNorm": "NoNormalization", "zscore": "ZScoreNormalization",
		"Rescale_To_0_1": "RescaleTo01Normalization", "rgb_to_0_1": "RGBTo01Normalization", "T2": "ZScoreNormalization", "MRI": "ZScoreNormalization",
	} {
		if got, _ := NormalizationScheme(ch); got != want {
			t.Errorf("NormalizationScheme(%q) = %q, want %q", ch, got, want)
		}
	}
}

// makeFingerprint builds a fingerprint with nch channels of dummy statistics.
func makeFingerprint(spacings [][]float64, shapes [][]int, rel float64, nch int) *fingerprint.Fingerprint {
	fp := &fingerprint.Fingerprint{MedianRelativeSizeAfterCropping: rel, Channels: make([]fingerprint.ChannelStats, nch)}
	for i := range spacings {
		fp.Spacings = append(fp.Spacings, [3]float64(spacings[i]))
		fp.ShapesAfterCrop = append(fp.ShapesAfterCrop, [3]int(shapes[i]))
	}
	return fp
}

func repeat[T any](v T, n int) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// summary is the part of a configuration the spec's vectors state.
type summary struct {
	Spacing    []float64
	Median     []float64
	Patch      []int
	Batch      int
	Features   []int
	Kernels    [][]int
	Strides    [][]int
	Schemes    []string
	Masks      []bool
	BatchDice  bool
	NextStage  string
	MedianInts bool
}

func summarize(t *testing.T, p *plans.Plans, name string) summary {
	t.Helper()
	c, err := p.Configuration(name)
	if err != nil {
		t.Fatal(err)
	}
	return summary{c.Spacing, c.MedianImageSizeInVoxels, c.PatchSize, c.BatchSize, c.Architecture.FeaturesPerStage,
		c.Architecture.KernelSizes, c.Architecture.Strides, c.NormalizationSchemes, c.UseMaskForNorm, c.BatchDice, c.NextStage, c.MedianImageSizeIsInt}
}

// ignoreUnset makes nil fields of the expected summary match anything.
var ignoreUnset = cmp.FilterPath(func(p cmp.Path) bool {
	vx, _ := p.Last().Values()
	return vx.IsValid() && (vx.Kind() == reflect.Slice && vx.IsNil())
}, cmp.Ignore())

var k133, k333 = []int{1, 3, 3}, []int{3, 3, 3}

// TestPlanVectors plans the hand-written fingerprints of spec Appendix B.4
// and B.5 and a 2-D-only and a many-channel dataset.
func TestPlanVectors(t *testing.T) {
	type want struct {
		configs     []string
		fwd         []int
		medSpacing  []float64
		medShape    []int
		perConfig   map[string]summary
		readerCheck string
	}
	tests := []struct {
		name string
		ds   DatasetInfo
		fp   *fingerprint.Fingerprint
		want want
	}{
		{
			name: "B.4 hippocampus-like",
			ds:   DatasetInfo{Name: "Dataset999_Hippo", Channels: []string{"MRI"}, NumLabelKeys: 3, NumTraining: 260, ImageReaderWriter: "SimpleITKIO"},
			fp:   makeFingerprint(repeat([]float64{1, 1, 1}, 5), repeat([]int{36, 50, 35}, 5), 1, 1),
			want: want{configs: []string{"2d", "3d_fullres"}, fwd: []int{0, 1, 2}, medSpacing: []float64{1, 1, 1}, medShape: []int{36, 50, 35},
				perConfig: map[string]summary{
					"3d_fullres": {Patch: []int{40, 56, 40}, Batch: 9, Median: []float64{36, 50, 35}, Features: []int{32, 64, 128, 256},
						Schemes: []string{"ZScoreNormalization"}, Masks: []bool{false}, BatchDice: false},
					"2d": {Patch: []int{56, 40}, Batch: 366, BatchDice: true},
				}},
		},
		{
			name: "B.5 Dataset991 anisotropic CT",
			ds:   DatasetInfo{Name: "Dataset991_Finetune", Channels: []string{"CT"}, NumLabelKeys: 3, NumTraining: 7, ImageReaderWriter: "NibabelIO"},
			fp: makeFingerprint([][]float64{{6.0, 0.8870000243186951, 0.8870000243186951}, {4.176000118255615, 0.7540000081062317, 0.7540000081062317},
				{4.822000026702881, 0.7710000276565552, 0.7710000276565552}, {4.869999885559082, 0.8949999809265137, 0.8949999809265137},
				{4.86899995803833, 0.8560000061988831, 0.8560000061988831}, {2.513000011444092, 0.8669999837875366, 0.8669999837875366},
				{4.077000141143799, 0.7129999995231628, 0.7129999995231628}},
				[][]int{{18, 60, 54}, {15, 61, 54}, {20, 69, 54}, {18, 54, 51}, {15, 57, 58}, {21, 68, 51}, {15, 59, 63}}, 0.7046035805626598, 1),
			want: want{configs: []string{"2d", "3d_fullres"}, fwd: []int{0, 1, 2},
				medSpacing: []float64{4.822000026702881, 0.8560000061988831, 0.8560000061988831}, medShape: []int{18, 60, 54},
				perConfig: map[string]summary{
					"3d_fullres": {Spacing: []float64{4.822000026702881, 0.8560000061988831, 0.8560000061988831}, Median: []float64{15, 57, 52},
						Patch: []int{16, 64, 56}, Batch: 2, Features: []int{32, 64, 128, 256, 320},
						Kernels: [][]int{k133, k133, k333, k333, k333}, Strides: [][]int{{1, 1, 1}, {1, 2, 2}, {1, 2, 2}, {2, 2, 2}, {2, 2, 1}},
						Schemes: []string{"CTNormalization"}, Masks: []bool{false}, BatchDice: false},
					"2d": {Spacing: []float64{0.8560000061988831, 0.8560000061988831}, Median: []float64{57, 52}, Patch: []int{64, 56}, Batch: 4,
						Features: []int{32, 64, 128, 256}, Kernels: [][]int{{3, 3}, {3, 3}, {3, 3}, {3, 3}},
						Strides: [][]int{{1, 1}, {2, 2}, {2, 2}, {2, 2}}, BatchDice: true},
				}},
		},
		{
			name: "B.5 Dataset993 huge CT with 3d_lowres",
			ds:   DatasetInfo{Name: "Dataset993_FakeBigCT", Channels: []string{"CT"}, NumLabelKeys: 3, NumTraining: 6, ImageReaderWriter: "SimpleITKIO"},
			fp: makeFingerprint([][]float64{{0.78, 0.78, 2.5}, {0.7, 0.7, 2.0}, {0.9, 0.9, 3.0}, {0.8, 0.8, 2.5}, {0.75, 0.75, 2.5}, {0.82, 0.82, 2.5}},
				[][]int{{512, 512, 160}, {512, 512, 220}, {512, 512, 120}, {480, 500, 180}, {512, 512, 150}, {400, 420, 140}}, 0.9, 1),
			want: want{configs: []string{"2d", "3d_lowres", "3d_fullres", "3d_cascade_fullres"}, fwd: []int{2, 0, 1},
				medSpacing: []float64{2.5, 0.79, 0.79}, medShape: []int{155, 512, 512},
				perConfig: map[string]summary{
					"2d": {Patch: []int{512, 512}, Batch: 12, Median: []float64{486, 496}, Features: []int{32, 64, 128, 256, 512, 512, 512, 512}, BatchDice: true},
					"3d_lowres": {Spacing: []float64{2.9357396636158004, 1.4696327116505026, 1.4696327116505026}, Median: []float64{132, 261, 267}, MedianInts: true,
						Patch: []int{80, 160, 192}, Batch: 2, Kernels: [][]int{k333, k333, k333, k333, k333, k333},
						Strides: [][]int{{1, 1, 1}, {2, 2, 2}, {2, 2, 2}, {2, 2, 2}, {2, 2, 2}, {1, 2, 2}}, BatchDice: false, NextStage: "3d_cascade_fullres"},
					"3d_fullres": {Spacing: []float64{2.25, 0.79, 0.79}, Median: []float64{172.5, 486, 496}, Patch: []int{64, 160, 192}, Batch: 2,
						Features: []int{32, 64, 128, 256, 320, 320}, Kernels: [][]int{k133, k333, k333, k333, k333, k333},
						Strides: [][]int{{1, 1, 1}, {1, 2, 2}, {2, 2, 2}, {2, 2, 2}, {2, 2, 2}, {2, 2, 2}}, BatchDice: true},
				}},
		},
		{
			name: "B.5 Dataset994 anisotropic two-channel MR",
			ds:   DatasetInfo{Name: "Dataset994_FakeAniso", Channels: []string{"T2", "ADC"}, NumLabelKeys: 2, NumTraining: 10, ImageReaderWriter: "SimpleITKIO"},
			fp: makeFingerprint([][]float64{{5, 0.7, 0.7}, {5, 0.7, 0.7}, {4, 0.7, 0.7}, {6, 0.7, 0.7}, {3, 0.7, 0.7}, {5, 0.7, 0.7}, {2.5, 0.7, 0.7}, {5, 0.7, 0.7}, {5, 0.7, 0.7}, {5, 0.7, 0.7}},
				repeat([]int{40, 256, 256}, 10), 0.6, 2),
			want: want{configs: []string{"2d", "3d_fullres"}, fwd: []int{0, 1, 2},
				perConfig: map[string]summary{
					"3d_fullres": {Spacing: []float64{2.95, 0.7, 0.7}, Median: []float64{68, 256, 256}, Patch: []int{48, 192, 192}, Batch: 2,
						Kernels: [][]int{k133, k133, k333, k333, k333, k333}, Strides: [][]int{{1, 1, 1}, {1, 2, 2}, {1, 2, 2}, {2, 2, 2}, {2, 2, 2}, {2, 2, 2}},
						Schemes: []string{"ZScoreNormalization", "ZScoreNormalization"}, Masks: []bool{true, true}},
					"2d": {Patch: []int{256, 256}, Batch: 34, Features: []int{32, 64, 128, 256, 512, 512, 512}, BatchDice: true},
				}},
		},
		{
			name: "B.5 Dataset992 MR with fractional median",
			ds:   DatasetInfo{Name: "Dataset992_MR", Channels: []string{"T2", "ADC"}, NumLabelKeys: 3, NumTraining: 6, ImageReaderWriter: "SimpleITKIO"},
			fp: makeFingerprint([][]float64{{1.0019999742507935, 0.7580000162124634, 0.7580000162124634}, {1.090000033378601, 0.7580000162124634, 0.7580000162124634},
				{0.949999988079071, 0.8069999814033508, 0.8069999814033508}, {0.902999997138977, 0.7839999794960022, 0.7839999794960022},
				{1.0859999656677246, 0.8949999809265137, 0.8949999809265137}, {0.968999981880188, 0.7210000157356262, 0.7210000157356262}},
				[][]int{{53, 71, 59}, {59, 53, 53}, {55, 55, 53}, {51, 52, 59}, {67, 64, 67}, {68, 52, 62}}, 0.6958977530406102, 2),
			want: want{configs: []string{"2d", "3d_fullres"}, fwd: []int{0, 1, 2},
				perConfig: map[string]summary{
					"3d_fullres": {Spacing: []float64{0.9854999780654907, 0.7709999978542328, 0.7709999978542328}, Median: []float64{59.5, 55.5, 58},
						Patch: []int{64, 56, 64}, Batch: 2, Strides: [][]int{{1, 1, 1}, {2, 2, 2}, {2, 2, 2}, {2, 2, 2}, {2, 1, 2}}, Masks: []bool{true, true}},
					"2d": {Patch: []int{56, 64}, Batch: 16, BatchDice: true},
				}},
		},
		{
			// Natural 2-D images: shape (1, H, W), spacing (999, 1, 1).
			// Hand-derived: patch 2048x2048 clipped to 512x512, 7 pools
			// per axis; batch min(12, round(512*512*100*0.05/512^2)=5).
			name: "2-D only",
			ds:   DatasetInfo{Name: "Dataset120_Photos", Channels: []string{"R", "G", "B"}, NumLabelKeys: 2, NumTraining: 100, ImageReaderWriter: "NaturalImage2DIO"},
			fp:   makeFingerprint(repeat([]float64{999, 0.5, 0.5}, 4), repeat([]int{1, 512, 512}, 4), 1, 3),
			want: want{configs: []string{"2d"}, fwd: []int{0, 1, 2}, medShape: []int{1, 512, 512},
				perConfig: map[string]summary{
					"2d": {Spacing: []float64{0.5, 0.5}, Median: []float64{512, 512}, Patch: []int{512, 512}, Batch: 5,
						Features: []int{32, 64, 128, 256, 512, 512, 512, 512}, BatchDice: true,
						Schemes: []string{"ZScoreNormalization", "ZScoreNormalization", "ZScoreNormalization"}, Masks: []bool{false, false, false}},
				}},
		},
		{
			// Many channels with mixed names: one scheme per channel; only
			// ZScore channels use the mask (median relative size 0.5).
			name: "many channels",
			ds:   DatasetInfo{Name: "Dataset130_Multi", Channels: []string{"CT", "T1", "noNorm", "rescale_to_0_1", "rgb_to_0_1", "zscore"}, NumLabelKeys: 3, NumTraining: 260, ImageReaderWriter: "SimpleITKIO"},
			fp:   makeFingerprint(repeat([]float64{1, 1, 1}, 5), repeat([]int{36, 50, 35}, 5), 0.5, 6),
			want: want{configs: []string{"2d", "3d_fullres"}, fwd: []int{0, 1, 2},
				perConfig: map[string]summary{
					"3d_fullres": {Patch: []int{40, 56, 40}, Batch: 9,
						Schemes: []string{"CTNormalization", "ZScoreNormalization", "NoNormalization", "RescaleTo01Normalization", "RGBTo01Normalization", "ZScoreNormalization"},
						Masks:   []bool{false, true, false, false, false, true}},
				}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Plan(tt.ds, tt.fp, Options{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want.configs, p.ConfigurationNames()); diff != "" {
				t.Errorf("configurations (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want.fwd, p.TransposeForward()); diff != "" {
				t.Errorf("transpose_forward (-want +got):\n%s", diff)
			}
			if tt.want.medSpacing != nil {
				if diff := cmp.Diff(tt.want.medSpacing, p.OriginalMedianSpacingAfterTransp()); diff != "" {
					t.Errorf("original_median_spacing_after_transp (-want +got):\n%s", diff)
				}
			}
			if tt.want.medShape != nil {
				if diff := cmp.Diff(tt.want.medShape, p.OriginalMedianShapeAfterTransp()); diff != "" {
					t.Errorf("original_median_shape_after_transp (-want +got):\n%s", diff)
				}
			}
			for name, w := range tt.want.perConfig {
				got := summarize(t, p, name)
				if diff := cmp.Diff(w, got, ignoreUnset); diff != "" {
					t.Errorf("%s (-want +got):\n%s", name, diff)
				}
			}
			if p.ImageReaderWriter() != tt.ds.ImageReaderWriter || p.DatasetName() != tt.ds.Name {
				t.Errorf("reader %q, name %q", p.ImageReaderWriter(), p.DatasetName())
			}
		})
	}
}

// BenchmarkPlanBigCT plans the huge-CT fingerprint of Appendix B.5 (patch
// shrinking and 10 lowres iterations).
func BenchmarkPlanBigCT(b *testing.B) {
	ds := DatasetInfo{Name: "Dataset993_FakeBigCT", Channels: []string{"CT"}, NumLabelKeys: 3, NumTraining: 6, ImageReaderWriter: "SimpleITKIO"}
	fp := makeFingerprint([][]float64{{0.78, 0.78, 2.5}, {0.7, 0.7, 2.0}, {0.9, 0.9, 3.0}, {0.8, 0.8, 2.5}, {0.75, 0.75, 2.5}, {0.82, 0.82, 2.5}},
		[][]int{{512, 512, 160}, {512, 512, 220}, {512, 512, 120}, {480, 500, 180}, {512, 512, 150}, {400, 420, 140}}, 0.9, 1)
	for b.Loop() {
		if _, err := Plan(ds, fp, Options{}, nil); err != nil {
			b.Fatal(err)
		}
	}
}
