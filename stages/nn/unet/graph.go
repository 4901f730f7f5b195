package unet

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/nnrunner/nnrunner/stages/nn/ops"
)

// graph is a PlainConvUNet on a gorgonia graph for one batch size and patch
// size. Parameter nodes are backed by the model's parameter slices.
type graph struct {
	g       *G.ExprGraph
	b       *ops.Builder
	params  map[string]*G.Node
	used    map[string]bool // parameters the outputs depend on
	x       *G.Node         // (N, Cin, patch...)
	xData   []float32       // backing of x
	outputs []*G.Node       // logits, highest resolution first (one when not deep supervision)
}

// buildGraph adds the network to a new graph. With deepSupervision all n−1
// seg heads are outputs (highest resolution first); with levels > 0 only the
// first `levels` outputs are built. Without it only the final head is.
func (m *Model) buildGraph(batch int, patch []int, deepSupervision bool, levels int) (*graph, error) {
	a := m.cfg.Arch
	if batch < 1 {
		return nil, fmt.Errorf("batch size %d must be positive", batch)
	}
	if len(patch) != a.Dim {
		return nil, fmt.Errorf("patch %v: want %d axes for a %d-D network", patch, a.Dim, a.Dim)
	}
	mult := a.PatchMultiple()
	for i, p := range patch {
		if p < 1 || p%mult[i] != 0 {
			return nil, fmt.Errorf("patch %v: axis %d must be a positive multiple of %d (the product of the strides)", patch, i, mult[i])
		}
	}
	gr := &graph{g: G.NewGraph(), params: make(map[string]*G.Node), used: make(map[string]bool)}
	gr.b = ops.NewBuilder(gr.g)
	for _, p := range m.params {
		shape := tensor.Shape(p.Shape)
		gr.params[p.Name] = G.NewTensor(gr.g, tensor.Float32, len(shape), G.WithName(p.Name), G.WithShape(shape...),
			G.WithValue(tensor.New(tensor.WithShape(shape.Clone()...), tensor.WithBacking(p.Data))))
	}
	xShape := append([]int{batch, m.cfg.InputChannels}, patch...)
	gr.xData = make([]float32, tensor.Shape(xShape).TotalSize())
	gr.x = G.NewTensor(gr.g, tensor.Float32, len(xShape), G.WithName("input"), G.WithShape(xShape...),
		G.WithValue(tensor.New(tensor.WithShape(xShape...), tensor.WithBacking(gr.xData))))

	lay := m.lay
	h := gr.x
	var err error
	skips := make([]*G.Node, len(lay.encoder))
	for s, stage := range lay.encoder {
		for _, bl := range stage {
			if h, err = gr.block(bl, h, a); err != nil {
				return nil, err
			}
		}
		skips[s] = h
	}
	n := len(lay.encoder)
	var outs []*G.Node
	for t := range lay.decoder {
		tc := lay.transp[t]
		if h, err = gr.b.ConvTranspose(tc.name, h, gr.param(tc.name+".weight"), gr.bias(tc), tc.stride); err != nil {
			return nil, err
		}
		if h, err = gr.b.ConcatChannels(fmt.Sprintf("decoder.cat.%d", t), h, skips[n-2-t]); err != nil {
			return nil, err
		}
		for _, bl := range lay.decoder[t] {
			if h, err = gr.block(bl, h, a); err != nil {
				return nil, err
			}
		}
		// Output index of this head, highest resolution first.
		idx := n - 2 - t
		if (deepSupervision && idx < levels) || t == n-2 {
			sc := lay.seg[t]
			o, err := gr.b.Conv(sc.name, h, gr.param(sc.name+".weight"), gr.bias(sc), sc.stride, sc.pad)
			if err != nil {
				return nil, err
			}
			outs = append(outs, o)
		}
	}
	for i, j := 0, len(outs)-1; i < j; i, j = i+1, j-1 {
		outs[i], outs[j] = outs[j], outs[i]
	}
	gr.outputs = outs
	return gr, nil
}

func (gr *graph) bias(c convLayer) *G.Node {
	if !c.bias {
		return nil
	}
	return gr.param(c.name + ".bias")
}

// param returns a parameter's node and records that the graph uses it.
func (gr *graph) param(name string) *G.Node {
	gr.used[name] = true
	return gr.params[name]
}

// block adds conv -> instance norm -> LeakyReLU as one fused op.
func (gr *graph) block(bl block, x *G.Node, a Arch) (*G.Node, error) {
	c := bl.conv
	return gr.b.ConvNormAct(bl.name, x, gr.param(c.name+".weight"), gr.bias(c),
		gr.param(bl.name+".norm.weight"), gr.param(bl.name+".norm.bias"), c.stride, c.pad, a.NormEps, a.NegativeSlope)
}
