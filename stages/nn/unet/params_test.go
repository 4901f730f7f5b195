package unet

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nnrunner/nnrunner/internal/sharedtest"
	"github.com/nnrunner/nnrunner/stages/plans"
)

// goldenArch reads the architecture of one configuration of a golden plans file.
func goldenArch(t testing.TB, dataset, config string) Arch {
	t.Helper()
	path := filepath.Join(sharedtest.Dir(t), "golden", "upstream", dataset, "nnUNetPlans.json")
	p, err := plans.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Configuration(config)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ArchFromPlans(c.Architecture)
	if err != nil {
		t.Fatalf("%s %s: %v", path, config, err)
	}
	return a
}

// dataset991Arch is the 3d_fullres architecture of spec B.5's Dataset991.
func dataset991Arch() Arch {
	return Arch{
		Dim:                  3,
		FeaturesPerStage:     []int{32, 64, 128, 256, 320},
		KernelSizes:          [][]int{{1, 3, 3}, {1, 3, 3}, {3, 3, 3}, {3, 3, 3}, {3, 3, 3}},
		Strides:              [][]int{{1, 1, 1}, {1, 2, 2}, {1, 2, 2}, {2, 2, 2}, {2, 2, 1}},
		NConvPerStage:        []int{2, 2, 2, 2, 2},
		NConvPerStageDecoder: []int{2, 2, 2, 2},
		ConvBias:             true,
		NormEps:              1e-5,
		NegativeSlope:        0.01,
	}
}

// TestUpstreamCounts checks spec B.7: the Dataset991 net has 240 state-dict
// keys and 15 773 356 parameters.
func TestUpstreamCounts(t *testing.T) {
	m, err := New(Config{Arch: dataset991Arch(), InputChannels: 1, NumClasses: 3}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(m.StateDictKeys()); got != 240 {
		t.Errorf("state-dict keys = %d, want 240", got)
	}
	if got := m.NumParams(); got != 15773356 {
		t.Errorf("parameters = %d, want 15773356", got)
	}
}

// TestDataset502Params checks names and shapes of the nets built from the
// golden Dataset502 plans against the upstream layout (spec §9.5).
func TestDataset502Params(t *testing.T) {
	tests := []struct {
		config    string
		numParams int
		shapes    map[string][]int
	}{
		{"3d_fullres", 16100552, map[string][]int{
			"encoder.stages.0.0.convs.0.conv.weight": {32, 1, 1, 3, 3},
			"encoder.stages.0.0.convs.0.conv.bias":   {32},
			"encoder.stages.0.0.convs.0.norm.weight": {32},
			"encoder.stages.1.0.convs.0.conv.weight": {64, 32, 1, 3, 3},
			"encoder.stages.4.0.convs.1.conv.weight": {320, 320, 3, 3, 3},
			"decoder.transpconvs.0.weight":           {320, 256, 2, 2, 2},
			"decoder.transpconvs.3.weight":           {64, 32, 1, 2, 2},
			"decoder.stages.0.convs.0.conv.weight":   {256, 512, 3, 3, 3},
			"decoder.stages.3.convs.1.conv.weight":   {32, 32, 1, 3, 3},
			"decoder.seg_layers.3.weight":            {2, 32, 1, 1, 1},
			"decoder.seg_layers.0.bias":              {2},
		}},
		{"2d", 7766344, map[string][]int{
			"encoder.stages.0.0.convs.0.conv.weight": {32, 1, 3, 3},
			"encoder.stages.4.0.convs.0.conv.weight": {512, 256, 3, 3},
			"decoder.transpconvs.0.weight":           {512, 256, 2, 2},
			"decoder.stages.0.convs.0.conv.weight":   {256, 512, 3, 3},
			"decoder.seg_layers.3.weight":            {2, 32, 1, 1},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.config, func(t *testing.T) {
			a := goldenArch(t, "Dataset502_SynthCTFine", tc.config)
			m, err := New(Config{Arch: a, InputChannels: 1, NumClasses: 2}, 1)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.NumParams(); got != tc.numParams {
				t.Errorf("parameters = %d, want %d", got, tc.numParams)
			}
			keys := m.StateDictKeys()
			if len(keys) != 240 {
				t.Errorf("state-dict keys = %d, want 240", len(keys))
			}
			for name, want := range tc.shapes {
				p, ok := m.Param(name)
				if !ok {
					t.Errorf("missing parameter %s", name)
					continue
				}
				if diff := cmp.Diff(want, p.Shape); diff != "" {
					t.Errorf("%s shape (-want +got):\n%s", name, diff)
				}
			}
			// Every upstream key maps onto a parameter, and every parameter
			// is reached by its own key.
			seen := map[string]bool{}
			for _, k := range keys {
				name := CanonicalName(k)
				if _, ok := m.Param(name); !ok {
					t.Errorf("key %s -> %s: no such parameter", k, name)
				}
				seen[name] = true
			}
			if len(seen) != len(m.Params()) {
				t.Errorf("keys reach %d parameters, model has %d", len(seen), len(m.Params()))
			}
			// The canonical names keep upstream's order.
			var canon []string
			for _, k := range keys {
				if !strings.Contains(k, "all_modules") && !strings.HasPrefix(k, "decoder.encoder.") {
					canon = append(canon, k)
				}
			}
			var names []string
			for _, p := range m.Params() {
				names = append(names, p.Name)
			}
			if diff := cmp.Diff(canon, names); diff != "" {
				t.Errorf("parameter order (-upstream +got):\n%s", diff)
			}
		})
	}
}

// TestHeInit checks the initial value rules of InitWeights_He(1e-2).
func TestHeInit(t *testing.T) {
	a := goldenArch(t, "Dataset502_SynthCTFine", "3d_fullres")
	m, err := New(Config{Arch: a, InputChannels: 1, NumClasses: 2}, 7)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := m.Param("encoder.stages.4.0.convs.1.conv.weight") // fan_in 320*27
	var s, ss float64
	for _, v := range w.Data {
		s += float64(v)
		ss += float64(v) * float64(v)
	}
	n := float64(len(w.Data))
	std := ss/n - (s/n)*(s/n)
	want := 2 / (1 + 1e-4) / (320 * 27)
	if std < 0.98*want || std > 1.02*want {
		t.Errorf("weight variance %g, want %g", std, want)
	}
	tw, _ := m.Param("decoder.transpconvs.0.weight") // (320, 256, 2,2,2): fan_in 256*8
	ss = 0
	for _, v := range tw.Data {
		ss += float64(v) * float64(v)
	}
	if v, want := ss/float64(len(tw.Data)), 2/(1+1e-4)/(256*8); v < 0.95*want || v > 1.05*want {
		t.Errorf("transposed weight variance %g, want %g", v, want)
	}
	for _, name := range []string{"encoder.stages.0.0.convs.0.conv.bias", "decoder.seg_layers.2.bias", "decoder.stages.1.convs.0.norm.bias"} {
		p, _ := m.Param(name)
		if slices.ContainsFunc(p.Data, func(v float32) bool { return v != 0 }) {
			t.Errorf("%s not zero", name)
		}
	}
	p, _ := m.Param("decoder.stages.1.convs.0.norm.weight")
	if slices.ContainsFunc(p.Data, func(v float32) bool { return v != 1 }) {
		t.Errorf("norm weight not one")
	}
	m2, _ := New(Config{Arch: a, InputChannels: 1, NumClasses: 2}, 7)
	w2, _ := m2.Param(w.Name)
	if !slices.Equal(w.Data, w2.Data) {
		t.Error("same seed gave different weights")
	}
}

func TestLoadState(t *testing.T) {
	cfg := Config{Arch: dataset991Arch(), InputChannels: 1, NumClasses: 3}
	src, _ := New(cfg, 1)
	dst, _ := New(cfg, 2)
	// A full upstream-style state_dict, aliases included.
	st := src.State()
	full := map[string]Tensor{}
	for _, k := range src.StateDictKeys() {
		full[k] = st[CanonicalName(k)]
	}
	if err := dst.Load(full, nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range src.Params() {
		q, _ := dst.Param(p.Name)
		if !slices.Equal(p.Data, q.Data) {
			t.Fatalf("%s differs after load", p.Name)
		}
	}
	// Seg layers skipped, as in upstream's pretrained-weight rule.
	other, _ := New(cfg, 3)
	before, _ := other.Param("decoder.seg_layers.0.weight")
	keep := slices.Clone(before.Data)
	part := map[string]Tensor{}
	for k, v := range st {
		if !strings.Contains(k, ".seg_layers.") {
			part[k] = v
		}
	}
	if err := other.Load(part, func(n string) bool { return strings.Contains(n, ".seg_layers.") }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(before.Data, keep) {
		t.Error("kept seg layer changed")
	}
	bad := []struct {
		name  string
		state map[string]Tensor
	}{
		{"missing", part},
		{"unknown", map[string]Tensor{"encoder.bogus.weight": {}}},
		{"shape", map[string]Tensor{"decoder.seg_layers.0.bias": {Shape: []int{4}, Data: make([]float32, 4)}}},
	}
	for _, tc := range bad {
		if err := other.Load(tc.state, nil); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestArchFromPlansErrors(t *testing.T) {
	valid := func() plans.Architecture {
		return plans.NewPlainConvUNet(2, []int{4, 8}, [][]int{{3, 3}, {3, 3}}, [][]int{{1, 1}, {2, 2}})
	}
	if _, err := ArchFromPlans(valid()); err != nil {
		t.Fatalf("valid block rejected: %v", err)
	}
	tests := []struct {
		name string
		edit func(a *plans.Architecture)
	}{
		{"class", func(a *plans.Architecture) { a.NetworkClassName = "ResidualEncoderUNet" }},
		{"conv", func(a *plans.Architecture) { a.ConvOp = "torch.nn.modules.conv.Conv1d" }},
		{"mixed dims", func(a *plans.Architecture) { a.NormOp = plans.InstanceNorm3dOp }},
		{"dropout", func(a *plans.Architecture) { a.DropoutOp = "torch.nn.Dropout" }},
		{"nonlin", func(a *plans.Architecture) { a.Nonlin = "torch.nn.ReLU" }},
		{"stages", func(a *plans.Architecture) { a.NStages = 3 }},
		{"decoder", func(a *plans.Architecture) { a.NConvPerStageDecoder = []int{1, 1} }},
		{"kernel dims", func(a *plans.Architecture) { a.KernelSizes = [][]int{{3, 3}, {3, 3, 3}} }},
		{"even kernel", func(a *plans.Architecture) { a.KernelSizes = [][]int{{3, 3}, {2, 2}} }},
		{"eps", func(a *plans.Architecture) { a.NormOpKwargs.Set("eps", "small") }},
		{"affine", func(a *plans.Architecture) { a.NormOpKwargs.Set("affine", false) }},
	}
	for _, tc := range tests {
		a := valid()
		tc.edit(&a)
		if _, err := ArchFromPlans(a); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}
