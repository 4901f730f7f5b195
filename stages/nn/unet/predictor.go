package unet

import (
	"fmt"

	G "gorgonia.org/gorgonia"
)

// Predictor runs the network forward (no deep supervision) for one batch
// and patch size, as upstream's inference does.
type Predictor struct {
	gr       *graph
	vm       G.VM
	out      G.Value
	outShape []int
}

// NewPredictor builds the inference graph for inputs of shape
// (batch, InputChannels, patch...). It shares the model's parameters.
func (m *Model) NewPredictor(batch int, patch []int) (*Predictor, error) {
	gr, err := m.buildGraph(batch, patch, false, 0)
	if err != nil {
		return nil, fmt.Errorf("build inference graph: %w", err)
	}
	p := &Predictor{gr: gr, outShape: []int(gr.outputs[0].Shape().Clone())}
	G.Read(gr.outputs[0], &p.out)
	p.vm = G.NewTapeMachine(gr.g)
	return p, nil
}

// InputShape is (batch, channels, patch...).
func (p *Predictor) InputShape() []int { return []int(p.gr.x.Shape().Clone()) }

// OutputShape is (batch, classes, patch...).
func (p *Predictor) OutputShape() []int { return append([]int(nil), p.outShape...) }

// Forward computes the logits of x (InputShape, C-order) into dst
// (OutputShape).
func (p *Predictor) Forward(x, dst []float32) error {
	if len(x) != len(p.gr.xData) {
		return fmt.Errorf("forward: input has %d values, want %d for shape %v", len(x), len(p.gr.xData), p.InputShape())
	}
	copy(p.gr.xData, x)
	p.vm.Reset()
	if err := p.vm.RunAll(); err != nil {
		return fmt.Errorf("forward: %w", err)
	}
	out, ok := p.out.Data().([]float32)
	if !ok || len(out) != len(dst) {
		return fmt.Errorf("forward: output buffer has %d values, logits have %d (shape %v)", len(dst), len(out), p.outShape)
	}
	copy(dst, out)
	return nil
}

// Close releases the machine.
func (p *Predictor) Close() error { return p.vm.Close() }
