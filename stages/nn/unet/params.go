package unet

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// heNegSlope is the `a` of upstream's InitWeights_He(1e-2).
const heNegSlope = 1e-2

// Config is everything that fixes a PlainConvUNet's parameters.
type Config struct {
	Arch          Arch
	InputChannels int // image channels (cascade adds one per foreground label)
	NumClasses    int // segmentation heads (labels incl. background)
}

// Validate checks the architecture and the channel counts.
func (c Config) Validate() error {
	if err := c.Arch.Validate(); err != nil {
		return err
	}
	if c.InputChannels < 1 || c.NumClasses < 1 {
		return fmt.Errorf("input channels %d, classes %d: both must be positive", c.InputChannels, c.NumClasses)
	}
	return nil
}

// Param is one learnable tensor, named by its upstream state_dict key and
// shaped as in PyTorch (conv weight (out, in, k...), transposed conv weight
// (in, out, k...), norm weight (C)).
type Param struct {
	Name  string
	Shape []int
	Data  []float32
}

// convLayer is a convolution (or transposed convolution) with its name prefix.
type convLayer struct {
	name           string // state_dict prefix, e.g. "decoder.seg_layers.3"
	in, out        int
	kernel, stride []int
	pad            []int
	bias           bool
	transposed     bool
}

// block is upstream's ConvDropoutNormReLU: conv -> instance norm -> LeakyReLU.
type block struct {
	name string // e.g. "encoder.stages.0.0.convs.1"
	conv convLayer
	ch   int // norm channels
}

// layout is the full layer list of a PlainConvUNet in upstream order.
type layout struct {
	encoder [][]block   // [stage][conv]
	transp  []convLayer // [decoder stage]
	decoder [][]block   // [decoder stage][conv]
	seg     []convLayer // [decoder stage]
}

func newLayout(c Config) layout {
	a := c.Arch
	n := a.NStages()
	var l layout
	in := c.InputChannels
	for s := 0; s < n; s++ {
		var stage []block
		for j := 0; j < a.NConvPerStage[s]; j++ {
			stride := ones(a.Dim)
			if j == 0 {
				stride = a.Strides[s]
			}
			name := fmt.Sprintf("encoder.stages.%d.0.convs.%d", s, j)
			stage = append(stage, newBlock(name, in, a.FeaturesPerStage[s], a.KernelSizes[s], stride, a.ConvBias))
			in = a.FeaturesPerStage[s]
		}
		l.encoder = append(l.encoder, stage)
	}
	for t := 0; t < n-1; t++ {
		below, skip := a.FeaturesPerStage[n-1-t], a.FeaturesPerStage[n-2-t]
		st := a.Strides[n-1-t]
		l.transp = append(l.transp, convLayer{
			name: fmt.Sprintf("decoder.transpconvs.%d", t), in: below, out: skip,
			kernel: st, stride: st, pad: make([]int, a.Dim), bias: a.ConvBias, transposed: true,
		})
		var stage []block
		in := 2 * skip
		for j := 0; j < a.NConvPerStageDecoder[t]; j++ {
			name := fmt.Sprintf("decoder.stages.%d.convs.%d", t, j)
			stage = append(stage, newBlock(name, in, skip, a.KernelSizes[n-2-t], ones(a.Dim), a.ConvBias))
			in = skip
		}
		l.decoder = append(l.decoder, stage)
		l.seg = append(l.seg, convLayer{
			name: fmt.Sprintf("decoder.seg_layers.%d", t), in: skip, out: c.NumClasses,
			kernel: ones(a.Dim), stride: ones(a.Dim), pad: make([]int, a.Dim), bias: true,
		})
	}
	return l
}

func newBlock(name string, in, out int, kernel, stride []int, bias bool) block {
	pad := make([]int, len(kernel))
	for i, k := range kernel {
		pad[i] = (k - 1) / 2
	}
	return block{
		name: name,
		conv: convLayer{name: name + ".conv", in: in, out: out, kernel: kernel, stride: stride, pad: pad, bias: bias},
		ch:   out,
	}
}

func ones(n int) []int {
	o := make([]int, n)
	for i := range o {
		o[i] = 1
	}
	return o
}

// weightShape is the PyTorch weight shape of the layer.
func (c convLayer) weightShape() []int {
	if c.transposed {
		return append([]int{c.in, c.out}, c.kernel...)
	}
	return append([]int{c.out, c.in}, c.kernel...)
}

// fanIn is PyTorch's fan-in: dimension 1 of the weight times the kernel volume.
func (c convLayer) fanIn() int {
	f := c.weightShape()[1]
	for _, k := range c.kernel {
		f *= k
	}
	return f
}

// paramSpec is a parameter before allocation, with its initial value rule.
type paramSpec struct {
	name  string
	shape []int
	std   float64 // > 0: normal(0, std); 0: constant fill
	fill  float32
}

func (c convLayer) params() []paramSpec {
	gain := math.Sqrt(2 / (1 + heNegSlope*heNegSlope))
	ps := []paramSpec{{name: c.name + ".weight", shape: c.weightShape(), std: gain / math.Sqrt(float64(c.fanIn()))}}
	if c.bias {
		ps = append(ps, paramSpec{name: c.name + ".bias", shape: []int{c.out}})
	}
	return ps
}

func (b block) params() []paramSpec {
	return append(b.conv.params(),
		paramSpec{name: b.name + ".norm.weight", shape: []int{b.ch}, fill: 1},
		paramSpec{name: b.name + ".norm.bias", shape: []int{b.ch}},
	)
}

// params lists every parameter once, in upstream state_dict order, under its
// canonical key (the `all_modules.*` and `decoder.encoder.*` aliases omitted).
func (l layout) params() []paramSpec {
	var ps []paramSpec
	for _, stage := range l.encoder {
		for _, b := range stage {
			ps = append(ps, b.params()...)
		}
	}
	for _, stage := range l.decoder {
		for _, b := range stage {
			ps = append(ps, b.params()...)
		}
	}
	for _, t := range l.transp {
		ps = append(ps, t.params()...)
	}
	for _, s := range l.seg {
		ps = append(ps, s.params()...)
	}
	return ps
}

// Model holds the parameters of a PlainConvUNet. Graphs built from it
// (Trainer, Predictor) share the parameter slices, so an optimiser step on
// Params is seen by every graph.
type Model struct {
	cfg    Config
	lay    layout
	params []*Param
	byName map[string]*Param
}

// New allocates a PlainConvUNet and initialises it like upstream's
// InitWeights_He(1e-2): conv and transposed-conv weights Kaiming normal
// (fan-in, leaky-ReLU gain with a = 0.01), biases 0, norm weights 1. The
// draws come from a PCG generator seeded with seed, in parameter order.
func New(cfg Config, seed uint64) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new PlainConvUNet: %w", err)
	}
	m := &Model{cfg: cfg, lay: newLayout(cfg), byName: make(map[string]*Param)}
	rng := rand.New(rand.NewPCG(seed, 0x6e6e556e6574)) // "nnUnet"
	for _, ps := range m.lay.params() {
		p := &Param{Name: ps.name, Shape: ps.shape, Data: make([]float32, numel(ps.shape))}
		for i := range p.Data {
			if ps.std > 0 {
				p.Data[i] = float32(rng.NormFloat64() * ps.std)
			} else {
				p.Data[i] = ps.fill
			}
		}
		m.params = append(m.params, p)
		m.byName[p.Name] = p
	}
	return m, nil
}

// Config returns the configuration the model was built from.
func (m *Model) Config() Config { return m.cfg }

// Params returns the parameters in upstream state_dict order.
func (m *Model) Params() []*Param { return m.params }

// Param returns the parameter with the given canonical state_dict key.
func (m *Model) Param(name string) (*Param, bool) {
	p, ok := m.byName[name]
	return p, ok
}

// NumParams returns the number of scalar parameters.
func (m *Model) NumParams() int {
	n := 0
	for _, p := range m.params {
		n += len(p.Data)
	}
	return n
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
