package unet

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/nnrunner/nnrunner/stages/nn/kernels"
	"github.com/nnrunner/nnrunner/stages/nn/ops"
	"github.com/nnrunner/nnrunner/stages/nn/optim"
)

// TrainOptions fixes the shape of a training graph and its loss.
type TrainOptions struct {
	Batch           int
	Patch           []int
	Loss            kernels.DiceCE // kernels.NewDiceCE(plans batch_dice), plus the ignore label if any
	DeepSupervision bool           // upstream trains with deep supervision on
}

// Trainer runs training steps of a PlainConvUNet: forward, nnU-Net's
// DC_and_CE loss (deep-supervision weighted), backward, and the optimiser.
type Trainer struct {
	gr      *graph
	vm      G.VM
	weights []float64 // loss weight per output (highest resolution first)
	levels  []level
	terms   []ops.LossTerms
	wrt     []*G.Node // parameter nodes in the graph, model order
	wrtIdx  []int     // their index in model.params
	grads   [][]float32
	params  [][]float32
}

// level is one deep-supervision output and its target.
type level struct {
	shape []int     // target spatial shape
	data  []float32 // target backing (N, 1, shape...)
	maps  [][]int   // per axis: output index -> source index (nearest-exact)
}

// StepLoss reports one training step.
type StepLoss struct {
	Total    float64        // Σ w_i · loss_i, the value that was differentiated
	Levels   []kernels.Loss // unweighted loss of each output, highest resolution first
	GradNorm float64        // global gradient L2 norm before clipping (Step only)
}

// DeepSupervisionWeights returns upstream's output weights for an n-stage
// network: 1/2^i for the n−1 outputs, the last set to 0, normalised.
func DeepSupervisionWeights(nStages int) ([]float64, error) {
	k := nStages - 1
	if k < 2 {
		return nil, fmt.Errorf("deep supervision needs at least 3 stages, got %d", nStages)
	}
	w := make([]float64, k)
	var sum float64
	for i := range w {
		if i < k-1 {
			w[i] = 1 / math.Pow(2, float64(i))
		}
		sum += w[i]
	}
	for i := range w {
		w[i] /= sum
	}
	return w, nil
}

// NewTrainer builds the training graph: the network, one loss per used
// output, the total and its gradients w.r.t. every parameter that reaches it
// (a head with weight 0 is not built; its parameters get zero gradients, as
// upstream's do).
func (m *Model) NewTrainer(opts TrainOptions) (*Trainer, error) {
	weights := []float64{1}
	if opts.DeepSupervision {
		var err error
		if weights, err = DeepSupervisionWeights(m.cfg.Arch.NStages()); err != nil {
			return nil, fmt.Errorf("build training graph: %w", err)
		}
	}
	used := 0
	for i, w := range weights {
		if w != 0 {
			used = i + 1
		}
	}
	gr, err := m.buildGraph(opts.Batch, opts.Patch, opts.DeepSupervision, used)
	if err != nil {
		return nil, fmt.Errorf("build training graph: %w", err)
	}
	t := &Trainer{gr: gr, weights: weights[:used]}
	var total *G.Node
	for i, out := range gr.outputs {
		sp := []int(out.Shape()[2:])
		lv := level{shape: sp}
		shape := append([]int{opts.Batch, 1}, sp...)
		lv.data = make([]float32, tensor.Shape(shape).TotalSize())
		for ax, o := range sp {
			lv.maps = append(lv.maps, nearestExact(opts.Patch[ax], o))
		}
		target := G.NewTensor(gr.g, tensor.Float32, len(shape), G.WithName(fmt.Sprintf("target.%d", i)), G.WithShape(shape...),
			G.WithValue(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(lv.data))))
		l, terms, err := gr.b.DiceCELoss(fmt.Sprintf("loss.%d", i), out, target, opts.Loss, t.weights[i])
		if err != nil {
			return nil, fmt.Errorf("build training graph: %w", err)
		}
		t.levels = append(t.levels, lv)
		t.terms = append(t.terms, terms)
		if total == nil {
			total = l
			continue
		}
		if total, err = G.Add(total, l); err != nil {
			return nil, fmt.Errorf("build training graph: sum losses: %w", err)
		}
		G.WithName(fmt.Sprintf("loss.sum.%d", i))(total)
	}
	for i, p := range m.params {
		if gr.used[p.Name] {
			t.wrt = append(t.wrt, gr.params[p.Name])
			t.wrtIdx = append(t.wrtIdx, i)
		}
		t.params = append(t.params, p.Data)
		t.grads = append(t.grads, make([]float32, len(p.Data)))
	}
	if _, err := G.Grad(total, t.wrt...); err != nil {
		return nil, fmt.Errorf("build training graph: gradients: %w", err)
	}
	t.vm = G.NewTapeMachine(gr.g, G.BindDualValues(t.wrt...))
	return t, nil
}

// nearestExact maps output indices to source indices as PyTorch's
// interpolate(mode="nearest-exact"): floor((o + 0.5)·in/out), clamped.
func nearestExact(in, out int) []int {
	m := make([]int, out)
	scale := float64(in) / float64(out)
	for o := range m {
		m[o] = min(int(math.Floor((float64(o)+0.5)*scale)), in-1)
	}
	return m
}

// Weights returns the loss weight of each built output, highest resolution
// first.
func (t *Trainer) Weights() []float64 { return append([]float64(nil), t.weights...) }

// ForwardBackward runs the network on x (Batch, InputChannels, Patch...) with
// segmentation seg (Batch, 1, Patch...; class labels as floats), computes the
// loss and fills the gradients (see Grads). Targets of lower-resolution
// outputs are seg downsampled with nearest-exact interpolation.
func (t *Trainer) ForwardBackward(x, seg []float32) (StepLoss, error) {
	if len(x) != len(t.gr.xData) {
		return StepLoss{}, fmt.Errorf("training step: input has %d values, want %d for shape %v", len(x), len(t.gr.xData), t.gr.x.Shape())
	}
	full := t.levels[0]
	if len(seg) != len(full.data) {
		return StepLoss{}, fmt.Errorf("training step: segmentation has %d values, want %d", len(seg), len(full.data))
	}
	copy(t.gr.xData, x)
	patch := t.gr.x.Shape()[2:]
	for _, lv := range t.levels {
		downsample(seg, patch, lv)
	}
	t.vm.Reset()
	if err := t.vm.RunAll(); err != nil {
		return StepLoss{}, fmt.Errorf("training step: %w", err)
	}
	var res StepLoss
	for i, tr := range t.terms {
		l, _ := tr.Last()
		res.Levels = append(res.Levels, l)
		res.Total += t.weights[i] * l.Total
	}
	for k, n := range t.wrt {
		gv, err := n.Grad()
		if err != nil {
			return StepLoss{}, fmt.Errorf("training step: gradient of %s: %w", n.Name(), err)
		}
		g, ok := gv.Data().([]float32)
		if !ok || len(g) != len(t.grads[t.wrtIdx[k]]) {
			return StepLoss{}, fmt.Errorf("training step: gradient of %s has type %T", n.Name(), gv.Data())
		}
		// The tape adds each run's gradient into the dual value, so it
		// is taken out and the accumulator cleared for the next run.
		copy(t.grads[t.wrtIdx[k]], g)
		clear(g)
	}
	return res, nil
}

// downsample writes seg resampled to the level's shape into its target.
func downsample(seg []float32, patch []int, lv level) {
	if len(lv.maps) == 0 {
		return
	}
	inner := 1
	for _, p := range patch {
		inner *= p
	}
	outInner := len(lv.data) / (len(seg) / inner)
	batch := len(seg) / inner
	dims := len(patch)
	idx := make([]int, dims)
	for b := range batch {
		src := seg[b*inner : (b+1)*inner]
		dst := lv.data[b*outInner : (b+1)*outInner]
		for o := range dst {
			// Decompose o over the level shape, map each axis, recompose over patch.
			r := o
			for ax := dims - 1; ax >= 0; ax-- {
				idx[ax] = r % lv.shape[ax]
				r /= lv.shape[ax]
			}
			s := 0
			for ax := range dims {
				s = s*patch[ax] + lv.maps[ax][idx[ax]]
			}
			dst[o] = src[s]
		}
	}
}

// Grads returns the gradient of every model parameter (model order) from the
// last ForwardBackward. The slices are reused by the next step.
func (t *Trainer) Grads() [][]float32 { return t.grads }

// Step is one nnU-Net training iteration: ForwardBackward, global gradient
// norm clipping to optim.MaxGradNorm, and opt's update with learning rate lr.
func (t *Trainer) Step(x, seg []float32, opt *optim.SGD, lr float64) (StepLoss, error) {
	res, err := t.ForwardBackward(x, seg)
	if err != nil {
		return res, err
	}
	if math.IsNaN(res.Total) || math.IsInf(res.Total, 0) {
		return res, fmt.Errorf("training step: loss is %v", res.Total)
	}
	res.GradNorm = optim.ClipGradNorm(t.grads, optim.MaxGradNorm)
	if err := opt.Step(t.params, t.grads, lr); err != nil {
		return res, fmt.Errorf("training step: %w", err)
	}
	return res, nil
}

// Close releases the machine.
func (t *Trainer) Close() error { return t.vm.Close() }
