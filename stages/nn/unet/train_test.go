package unet

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nnrunner/nnrunner/stages/nn/kernels"
	"github.com/nnrunner/nnrunner/stages/nn/optim"
)

// tinyArch is a 3-stage 3-D PlainConvUNet small enough for unit tests.
func tinyArch() Arch {
	return Arch{
		Dim:                  3,
		FeaturesPerStage:     []int{8, 16, 32},
		KernelSizes:          [][]int{{1, 3, 3}, {3, 3, 3}, {3, 3, 3}},
		Strides:              [][]int{{1, 1, 1}, {1, 2, 2}, {2, 2, 2}},
		NConvPerStage:        []int{2, 2, 2},
		NConvPerStageDecoder: []int{2, 2},
		ConvBias:             true,
		NormEps:              1e-5,
		NegativeSlope:        0.01,
	}
}

// syntheticBatch returns noisy images of two nested spheres and their labels.
func syntheticBatch(batch int, patch []int, seed uint64) (x, seg []float32) {
	rng := rand.New(rand.NewPCG(seed, 1))
	d, h, w := patch[0], patch[1], patch[2]
	x = make([]float32, batch*d*h*w)
	seg = make([]float32, batch*d*h*w)
	for b := range batch {
		cz, cy, cx := float64(d)/2+rng.Float64()-0.5, float64(h)/2+2*rng.Float64()-1, float64(w)/2+2*rng.Float64()-1
		r := float64(h) / 3
		for z := range d {
			for y := range h {
				for i := range w {
					dz, dy, dx := (float64(z)-cz)*float64(h)/float64(d), float64(y)-cy, float64(i)-cx
					dist := math.Sqrt(dz*dz + dy*dy + dx*dx)
					j := ((b*d+z)*h+y)*w + i
					var lab float32
					switch {
					case dist < r/2:
						lab = 2
					case dist < r:
						lab = 1
					}
					seg[j] = lab
					x[j] = lab + float32(0.5*rng.NormFloat64())
				}
			}
		}
	}
	return x, seg
}

// TestOverfit trains a small U-Net on one synthetic batch with nnU-Net's
// optimiser settings; the loss must fall below 10 % of its start. The loss is
// CE + (−Dice) ∈ [−1, ∞), so "loss" here is shifted by +1 to be positive.
func TestOverfit(t *testing.T) {
	m, err := New(Config{Arch: tinyArch(), InputChannels: 1, NumClasses: 3}, 3)
	if err != nil {
		t.Fatal(err)
	}
	patch := []int{4, 16, 16}
	tr, err := m.NewTrainer(TrainOptions{Batch: 2, Patch: patch, Loss: kernels.NewDiceCE(false), DeepSupervision: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	x, seg := syntheticBatch(2, patch, 5)
	opt := optim.NewSGD(optim.Momentum, optim.WeightDecay)
	var first, last StepLoss
	const steps = 120
	for i := range steps {
		l, err := tr.Step(x, seg, opt, optim.PolyLR(optim.InitialLR, i, 2*steps, optim.PolyExponent))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = l
		}
		last = l
	}
	t.Logf("loss %.4f -> %.4f (CE %.4f -> %.4f, Dice %.4f -> %.4f)", first.Total, last.Total,
		first.Levels[0].CE, last.Levels[0].CE, first.Levels[0].Dice, last.Levels[0].Dice)
	if start, end := first.Total+1, last.Total+1; end > 0.1*start {
		t.Errorf("shifted loss %.4f did not fall below 10%% of its start %.4f", end, start)
	}
	if last.Levels[0].CE > 0.1*first.Levels[0].CE {
		t.Errorf("cross-entropy %.4f did not fall below 10%% of its start %.4f", last.Levels[0].CE, first.Levels[0].CE)
	}
}

// fourStageArch has two loss-carrying outputs under deep supervision
// (weights 2/3, 1/3, 0), so the summed loss is exercised.
func fourStageArch() Arch {
	return Arch{
		Dim:                  3,
		FeaturesPerStage:     []int{4, 8, 16, 16},
		KernelSizes:          [][]int{{1, 3, 3}, {3, 3, 3}, {3, 3, 3}, {3, 3, 3}},
		Strides:              [][]int{{1, 1, 1}, {1, 2, 2}, {2, 2, 2}, {1, 2, 2}},
		NConvPerStage:        []int{2, 2, 2, 2},
		NConvPerStageDecoder: []int{2, 2, 2},
		ConvBias:             true,
		NormEps:              1e-5,
		NegativeSlope:        0.01,
	}
}

// TestTrainerGradients checks the float32 training graph's gradients against
// central differences of the loss, and that repeated runs do not accumulate
// (the tape adds into its gradient accumulators).
func TestTrainerGradients(t *testing.T) {
	twoD := Arch{
		Dim:                  2,
		FeaturesPerStage:     []int{4, 8, 16, 16},
		KernelSizes:          [][]int{{3, 3}, {3, 3}, {3, 3}, {3, 3}},
		Strides:              [][]int{{1, 1}, {2, 2}, {2, 2}, {2, 2}},
		NConvPerStage:        []int{2, 2, 2, 2},
		NConvPerStageDecoder: []int{2, 2, 2},
		ConvBias:             true,
		NormEps:              1e-5,
		NegativeSlope:        0.01,
	}
	tests := []struct {
		name  string
		arch  Arch
		patch []int
		data  []int // patch as (D, H, W) for syntheticBatch
	}{
		{"3d", fourStageArch(), []int{4, 16, 16}, []int{4, 16, 16}},
		{"2d", twoD, []int{16, 16}, []int{1, 16, 16}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkTrainerGradients(t, tc.arch, tc.patch, tc.data) })
	}
}

func checkTrainerGradients(t *testing.T, arch Arch, patch, data []int) {
	m, err := New(Config{Arch: arch, InputChannels: 1, NumClasses: 3}, 3)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := m.NewTrainer(TrainOptions{Batch: 2, Patch: patch, Loss: kernels.NewDiceCE(true), DeepSupervision: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	x, seg := syntheticBatch(2, data, 7)
	if diff := cmp.Diff([]float64{2.0 / 3, 1.0 / 3}, tr.Weights()); diff != "" {
		t.Errorf("loss weights (-want +got):\n%s", diff)
	}
	if _, err := tr.ForwardBackward(x, seg); err != nil {
		t.Fatal(err)
	}
	first := make([][]float32, len(tr.Grads()))
	for i, g := range tr.Grads() {
		first[i] = append([]float32(nil), g...)
	}
	if _, err := tr.ForwardBackward(x, seg); err != nil {
		t.Fatal(err)
	}
	for i, g := range tr.Grads() {
		for j := range g {
			if g[j] != first[i][j] {
				t.Fatalf("%s: gradient changed between identical runs: %v then %v", m.Params()[i].Name, first[i][j], g[j])
			}
		}
	}
	checks := []struct {
		name string
		h    float32
	}{
		{"decoder.seg_layers.2.bias", 1e-2},
		{"decoder.seg_layers.1.bias", 1e-2},
		{"decoder.seg_layers.1.weight", 1e-2},
		{"decoder.stages.0.convs.1.norm.weight", 1e-2},
		{"encoder.stages.2.0.convs.0.norm.bias", 1e-2},
		{"decoder.transpconvs.1.bias", 1e-2},
	}
	for _, c := range checks {
		p, ok := m.Param(c.name)
		if !ok {
			t.Fatalf("no parameter %s", c.name)
		}
		idx := slices.Index(m.Params(), p)
		for j := 0; j < min(3, len(p.Data)); j++ {
			o := p.Data[j]
			p.Data[j] = o + c.h
			lp, _ := tr.ForwardBackward(x, seg)
			p.Data[j] = o - c.h
			lm, _ := tr.ForwardBackward(x, seg)
			p.Data[j] = o
			num := (lp.Total - lm.Total) / float64(2*c.h)
			a := float64(first[idx][j])
			if math.Abs(num-a) > 0.02*math.Max(math.Abs(num), math.Abs(a))+1e-3 {
				t.Errorf("%s[%d]: analytic %.5f, numeric %.5f", c.name, j, a, num)
			}
		}
	}
	// Heads with weight 0 are not built; their gradients are zero.
	p, _ := m.Param("decoder.seg_layers.0.weight")
	for _, v := range tr.Grads()[slices.Index(m.Params(), p)] {
		if v != 0 {
			t.Fatal("unused head has a nonzero gradient")
		}
	}
}

// TestDeterministic trains two identically seeded models and requires equal
// bits: the kernels, the gradient clearing and the optimiser must not depend
// on scheduling.
func TestDeterministic(t *testing.T) {
	run := func() []float32 {
		m, err := New(Config{Arch: tinyArch(), InputChannels: 1, NumClasses: 3}, 9)
		if err != nil {
			t.Fatal(err)
		}
		patch := []int{4, 16, 16}
		tr, err := m.NewTrainer(TrainOptions{Batch: 2, Patch: patch, Loss: kernels.NewDiceCE(false), DeepSupervision: true})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		x, seg := syntheticBatch(2, patch, 3)
		opt := optim.NewSGD(optim.Momentum, optim.WeightDecay)
		for range 3 {
			if _, err := tr.Step(x, seg, opt, optim.InitialLR); err != nil {
				t.Fatal(err)
			}
		}
		var all []float32
		for _, p := range m.Params() {
			all = append(all, p.Data...)
		}
		return all
	}
	a, b := run(), run()
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("parameter value %d differs between identical runs: %v vs %v", i, a[i], b[i])
		}
	}
}
