package ops

import (
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/nnrunner/nnrunner/stages/nn/kernels"
)

// concatOp joins tensors along the channel axis (part < 0), or extracts
// channel range `part` of such a join (the backward pass).
type concatOp struct {
	base
	shapes []tensor.Shape // shapes of the parts
	part   int
	b      *Builder
}

// ConcatChannels adds the concatenation of xs (N,C_i,spatial) along the
// channel axis, in order, as torch.cat(xs, dim=1).
func (b *Builder) ConcatChannels(name string, xs ...*G.Node) (*G.Node, error) {
	if len(xs) < 2 {
		return nil, fmt.Errorf("%s: %d inputs, want at least 2", name, len(xs))
	}
	op := &concatOp{base: b.base("concat"), part: -1, b: b}
	first := shapeOf(xs[0])
	for i, x := range xs {
		s := shapeOf(x)
		if len(s) != len(first) || s[0] != first[0] || !s[2:].Eq(first[2:]) {
			return nil, fmt.Errorf("%s: input %d has shape %v, not concatenable with %v", name, i, s, first)
		}
		op.shapes = append(op.shapes, s.Clone())
	}
	return apply(op, name, xs...)
}

func (o *concatOp) outShape() tensor.Shape {
	if o.part >= 0 {
		return o.shapes[o.part]
	}
	s := o.shapes[0].Clone()
	for _, p := range o.shapes[1:] {
		s[1] += p[1]
	}
	return s
}

func (o *concatOp) Arity() int {
	if o.part >= 0 {
		return 1
	}
	return len(o.shapes)
}

func (o *concatOp) Type() hm.Type {
	d := len(o.shapes[0])
	dims := make([]int, o.Arity()+1)
	for i := range dims {
		dims[i] = d
	}
	return fnType(dims...)
}

func (o *concatOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return o.outShape(), nil }

func (o *concatOp) UsePreallocDo(_ G.Value, in ...G.Value) (G.Value, error) { return o.Do(in...) }

func (o *concatOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != o.Arity() {
		return nil, fmt.Errorf("%v: %d inputs, want %d", o, len(in), o.Arity())
	}
	dt := in[0].Dtype()
	if err := checkFloat(dt); err != nil {
		return nil, fmt.Errorf("%v: %w", o, err)
	}
	s0 := o.shapes[0]
	n, sp := s0[0], s0.TotalSize()/(s0[0]*s0[1])
	out := o.output(dt, o.outShape())
	if o.part >= 0 {
		whole := o.shapes[0].Clone()
		whole[1] = 0
		for _, p := range o.shapes {
			whole[1] += p[1]
		}
		src, err := dense(o.String()+" input", in[0], dt, whole.TotalSize())
		if err != nil {
			return nil, err
		}
		lo := 0
		for _, p := range o.shapes[:o.part] {
			lo += p[1]
		}
		if dt == tensor.Float32 {
			kernels.ChannelRange(n, sp, lo, floats[float32](src), floats[float32](out))
		} else {
			kernels.ChannelRange(n, sp, lo, floats[float64](src), floats[float64](out))
		}
		return out, nil
	}
	parts := make([]*tensor.Dense, len(in))
	for i, v := range in {
		var err error
		if parts[i], err = dense(fmt.Sprintf("%v input %d", o, i), v, dt, o.shapes[i].TotalSize()); err != nil {
			return nil, err
		}
	}
	if dt == tensor.Float32 {
		concat[float32](parts, out, n, sp)
	} else {
		concat[float64](parts, out, n, sp)
	}
	return out, nil
}

func concat[T kernels.Float](parts []*tensor.Dense, out *tensor.Dense, n, sp int) {
	srcs := make([][]T, len(parts))
	for i, p := range parts {
		srcs[i] = floats[T](p)
	}
	kernels.ConcatChannels(n, sp, floats[T](out), srcs...)
}

func (o *concatOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	if o.part < 0 {
		for i := range d {
			d[i] = true
		}
	}
	return d
}

// SymDiff returns, for each part, its channel range of dy.
func (o *concatOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	if o.part >= 0 {
		return nil, fmt.Errorf("%v: backward passes are not differentiable", o)
	}
	grads := make(G.Nodes, len(inputs))
	for i, x := range inputs {
		d := *o
		d.base = o.b.base("concat.split")
		d.part = i
		var err error
		if grads[i], err = apply(&d, x.Name()+".grad", grad); err != nil {
			return nil, err
		}
	}
	return grads, nil
}
