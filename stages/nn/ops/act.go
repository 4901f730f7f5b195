package ops

import (
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/nnrunner/nnrunner/stages/nn/kernels"
)

// leakyOp is LeakyReLU (grad false: x -> y) or its backward pass
// (grad true: (y, dy) -> dx, using the forward output).
type leakyOp struct {
	base
	shape tensor.Shape
	slope float64
	grad  bool
	b     *Builder
}

// LeakyReLU adds y = x for x > 0, slope·x otherwise.
func (b *Builder) LeakyReLU(name string, x *G.Node, slope float64) (*G.Node, error) {
	if slope <= 0 {
		return nil, fmt.Errorf("%s: slope %g must be positive (the backward pass reads the output's sign)", name, slope)
	}
	op := &leakyOp{base: b.base("leakyrelu"), shape: shapeOf(x).Clone(), slope: slope, b: b}
	return apply(op, name, x)
}

func (o *leakyOp) Arity() int {
	if o.grad {
		return 2
	}
	return 1
}

func (o *leakyOp) Type() hm.Type {
	d := len(o.shape)
	if o.grad {
		return fnType(d, d, d)
	}
	return fnType(d, d)
}

func (o *leakyOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return o.shape, nil }

func (o *leakyOp) UsePreallocDo(_ G.Value, in ...G.Value) (G.Value, error) { return o.Do(in...) }

func (o *leakyOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != o.Arity() {
		return nil, fmt.Errorf("%v: %d inputs, want %d", o, len(in), o.Arity())
	}
	dt := in[0].Dtype()
	if err := checkFloat(dt); err != nil {
		return nil, fmt.Errorf("%v: %w", o, err)
	}
	n := o.shape.TotalSize()
	x, err := dense(o.String()+" input", in[0], dt, n)
	if err != nil {
		return nil, err
	}
	out := o.output(dt, o.shape)
	if !o.grad {
		if dt == tensor.Float32 {
			kernels.LeakyReLUForward(floats[float32](x), floats[float32](out), float32(o.slope))
		} else {
			kernels.LeakyReLUForward(floats[float64](x), floats[float64](out), o.slope)
		}
		return out, nil
	}
	dy, err := dense(o.String()+" output gradient", in[1], dt, n)
	if err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		kernels.LeakyReLUBackward(floats[float32](x), floats[float32](dy), floats[float32](out), float32(o.slope))
	} else {
		kernels.LeakyReLUBackward(floats[float64](x), floats[float64](dy), floats[float64](out), o.slope)
	}
	return out, nil
}

func (o *leakyOp) DiffWRT(n int) []bool { return []bool{!o.grad} }

// SymDiff returns dx from the forward output and dy.
func (o *leakyOp) SymDiff(_ G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if o.grad {
		return nil, fmt.Errorf("%v: backward passes are not differentiable", o)
	}
	d := *o
	d.base = o.b.base("leakyrelu.dx")
	d.grad = true
	dx, err := apply(&d, output.Name()+".grad", output, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx}, nil
}
