package train

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nnrunner/nnrunner/stages/nn/unet"
)

func tinyArch(features []int) unet.Arch {
	a := unet.Arch{Dim: 3, FeaturesPerStage: features, ConvBias: true, NormEps: 1e-5, NegativeSlope: 0.01}
	for i := range features {
		a.KernelSizes = append(a.KernelSizes, []int{3, 3, 3})
		st := []int{2, 2, 2}
		if i == 0 {
			st = []int{1, 1, 1}
		}
		a.Strides = append(a.Strides, st)
		a.NConvPerStage = append(a.NConvPerStage, 2)
		if i > 0 {
			a.NConvPerStageDecoder = append(a.NConvPerStageDecoder, 2)
		}
	}
	return a
}

func newModel(t *testing.T, features []int, in, classes int, seed uint64) *unet.Model {
	t.Helper()
	m, err := unet.New(unet.Config{Arch: tinyArch(features), InputChannels: in, NumClasses: classes}, seed)
	must(t, err)
	return m
}

// savePretrained writes m's weights like a training checkpoint and
// returns the file.
func savePretrained(t *testing.T, m *unet.Model, drop string) string {
	t.Helper()
	st := m.State()
	delete(st, drop)
	p := filepath.Join(t.TempDir(), FinalName+WeightsSuffix)
	must(t, writeSafetensors(p, st, nil))
	return p
}

// TestLoadPretrainedSkipsSegLayers: every parameter but the heads is
// copied bit for bit; the heads (here with another number of classes)
// keep their fresh initialisation.
func TestLoadPretrainedSkipsSegLayers(t *testing.T) {
	src := newModel(t, []int{4, 8, 16}, 1, 2, 1)
	dst := newModel(t, []int{4, 8, 16}, 1, 4, 2)
	before := dst.State()
	n, err := LoadPretrained(dst, savePretrained(t, src, ""))
	must(t, err)
	heads := 0
	for _, p := range dst.Params() {
		if strings.Contains(p.Name, SegLayerMarker) {
			heads++
			if !slices.Equal(p.Data, before[p.Name].Data) {
				t.Errorf("%s was overwritten", p.Name)
			}
			continue
		}
		q, _ := src.Param(p.Name)
		if !slices.Equal(p.Data, q.Data) {
			t.Errorf("%s was not copied", p.Name)
		}
	}
	if heads == 0 || n != len(dst.Params())-heads {
		t.Errorf("copied %d parameters, %d heads of %d parameters", n, heads, len(dst.Params()))
	}
}

func TestLoadPretrainedErrors(t *testing.T) {
	base := newModel(t, []int{4, 8, 16}, 1, 2, 1)
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"missing key", savePretrained(t, base, "decoder.stages.0.convs.1.norm.bias"),
			[]string{`"decoder.stages.0.convs.1.norm.bias" is missing`, "architecture"}},
		{"shape mismatch", savePretrained(t, newModel(t, []int{4, 8, 32}, 1, 2, 1), ""),
			[]string{`"encoder.stages.2.0.convs.0.conv.weight"`, "[32 8 3 3 3]", "[16 8 3 3 3]", "plans were not transferred"}},
		{"input channels", savePretrained(t, newModel(t, []int{4, 8, 16}, 2, 2, 1), ""),
			[]string{`"` + firstConv + `"`, "[4 2 3 3 3]", "[4 1 3 3 3]", "2 input channels, this dataset has 1"}},
		{"missing architecture stage", savePretrained(t, newModel(t, []int{4, 8}, 1, 2, 1), ""),
			[]string{"encoder.stages.2.0.convs.0.conv.weight", "is missing"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := newModel(t, []int{4, 8, 16}, 1, 2, 9)
			before := dst.State()
			_, err := LoadPretrained(dst, tc.src)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			for _, p := range dst.Params() {
				if !slices.Equal(p.Data, before[p.Name].Data) {
					t.Fatalf("%s changed although loading failed", p.Name)
				}
			}
		})
	}
}

// TestFinetuneFrozenEncoder pretrains, then finetunes with the encoder
// frozen for the whole budget and a decoder-only warm-up: the final
// encoder must equal the pretrained one bit for bit while the decoder
// moved.
func TestFinetuneFrozenEncoder(t *testing.T) {
	root := t.TempDir()
	pre, pl := tinySynth.write(t, root)
	common := map[string]any{"preprocessed": pre, "plans": pl, "epochs": int64(2), "iterations_per_epoch": int64(2),
		"val_iterations": int64(1), "num_workers": int64(1), "final_validation": false}
	ptOut := filepath.Join(root, "pt")
	must(t, mkdir(ptOut))
	pt := NewPretrain()
	must(t, pt.Run(t.Context(), request(pt, ptOut, common)))
	ptWeights, err := ReadWeights(filepath.Join(ptOut, FolderName, FinalName+WeightsSuffix))
	must(t, err)

	ftOut := filepath.Join(root, "ft")
	must(t, mkdir(ftOut))
	ft := NewFinetune()
	with := map[string]any{"pretrained": filepath.Join(ptOut, FolderName, FinalName+WeightsSuffix),
		"fold": "0", "freeze_encoder_epochs": int64(2), "warmup_epochs": int64(1), "warmup": WarmupDecoder, "seed": int64(4)}
	for k, v := range common {
		with[k] = v
	}
	must(t, ft.Run(t.Context(), request(ft, ftOut, with)))
	ftWeights, err := ReadWeights(filepath.Join(ftOut, FolderName, FinalName+WeightsSuffix))
	must(t, err)
	moved := 0
	for name, w := range ftWeights {
		same := slices.Equal(w.Data, ptWeights[name].Data)
		switch {
		case strings.HasPrefix(name, "encoder.") && !same:
			t.Errorf("frozen encoder parameter %s changed", name)
		case strings.HasPrefix(name, "decoder.") && !strings.Contains(name, SegLayerMarker) && !same:
			moved++
		}
	}
	if moved == 0 {
		t.Errorf("no decoder parameter moved during finetuning")
	}
}

func TestStageParameters(t *testing.T) {
	root := t.TempDir()
	pre, pl := tinySynth.write(t, root)
	tests := []struct {
		st   *Stage
		with map[string]any
		want string
	}{
		{NewPretrain(), map[string]any{"fold": "0"}, "fold all"},
		{NewTrain(), map[string]any{"fold": "x"}, "want all or a fold number"},
		{NewTrain(), map[string]any{"configuration": "2d"}, "2d"},
		{NewTrain(), map[string]any{"epochs": int64(0)}, "epochs"},
		{NewFinetune(), map[string]any{"pretrained": filepath.Join(root, "none.safetensors")}, "none.safetensors"},
	}
	for _, tc := range tests {
		out := filepath.Join(t.TempDir(), "out")
		must(t, mkdir(out))
		with := map[string]any{"preprocessed": pre, "plans": pl, "final_validation": false}
		for k, v := range tc.with {
			with[k] = v
		}
		err := tc.st.Run(t.Context(), request(tc.st, out, with))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s with %v: error %v, want one mentioning %q", tc.st.typ, tc.with, err, tc.want)
		}
	}
}
