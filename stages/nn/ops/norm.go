package ops

import (
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/nnrunner/nnrunner/stages/nn/kernels"
)

// normState is what an instance norm's forward pass leaves for its backward
// pass, and the backward pass for its parameter-gradient readers.
type normState struct {
	mean, rstd    *tensor.Dense // (N·C)
	dgamma, dbeta *tensor.Dense // (C)
}

// normKind says which pass of an instance norm an op computes.
type normKind int

const (
	normFwd    normKind = iota // (x, gamma, beta) -> y
	normBwd                    // (x, gamma, dy) -> dx; also fills dgamma, dbeta
	normDGamma                 // (dx) -> dgamma, read from the state
	normDBeta                  // (dx) -> dbeta, read from the state
)

var normKindNames = [...]string{"instancenorm", "instancenorm.dx", "instancenorm.dgamma", "instancenorm.dbeta"}

// normOp is an affine instance norm (InstanceNorm2d/3d, affine, no running
// statistics): every (sample, channel) is normalised over space.
type normOp struct {
	base
	kind      normKind
	shape     tensor.Shape // x shape
	eps       float64
	st        *normState
	diffInput bool
	b         *Builder
}

// InstanceNorm adds y = gamma·(x − mean)·rstd + beta over each (sample,
// channel) of x (N,C,spatial), gamma and beta of shape (C).
func (b *Builder) InstanceNorm(name string, x, gamma, beta *G.Node, eps float64) (*G.Node, error) {
	xs := shapeOf(x)
	if _, err := spatial3(xs); err != nil {
		return nil, fmt.Errorf("%s: input: %w", name, err)
	}
	for _, p := range []*G.Node{gamma, beta} {
		if s := shapeOf(p); len(s) != 1 || s[0] != xs[1] {
			return nil, fmt.Errorf("%s: affine parameter %s has shape %v, want (%d)", name, p.Name(), s, xs[1])
		}
	}
	op := &normOp{base: b.base(normKindNames[normFwd]), kind: normFwd, shape: xs.Clone(), eps: eps,
		st: new(normState), diffInput: b.wantGrad(x), b: b}
	return apply(op, name, x, gamma, beta)
}

func (o *normOp) Arity() int {
	switch o.kind {
	case normFwd, normBwd:
		return 3
	}
	return 1
}

func (o *normOp) Type() hm.Type {
	d := len(o.shape)
	switch o.kind {
	case normFwd:
		return fnType(d, 1, 1, d)
	case normBwd:
		return fnType(d, 1, d, d)
	}
	return fnType(d, 1)
}

func (o *normOp) outShape() tensor.Shape {
	if o.kind == normDGamma || o.kind == normDBeta {
		return tensor.Shape{o.shape[1]}
	}
	return o.shape
}

func (o *normOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return o.outShape(), nil }

func (o *normOp) UsePreallocDo(_ G.Value, in ...G.Value) (G.Value, error) { return o.Do(in...) }

func (o *normOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != o.Arity() {
		return nil, fmt.Errorf("%v: %d inputs, want %d", o, len(in), o.Arity())
	}
	dt := in[0].Dtype()
	if err := checkFloat(dt); err != nil {
		return nil, fmt.Errorf("%v: %w", o, err)
	}
	switch o.kind {
	case normDGamma, normDBeta:
		src := o.st.dgamma
		if o.kind == normDBeta {
			src = o.st.dbeta
		}
		if src == nil {
			return nil, fmt.Errorf("%v: the backward pass has not run", o)
		}
		return src, nil
	}
	n, c := o.shape[0], o.shape[1]
	total := o.shape.TotalSize()
	x, err := dense(o.String()+" input", in[0], dt, total)
	if err != nil {
		return nil, err
	}
	gamma, err := dense(o.String()+" gamma", in[1], dt, c)
	if err != nil {
		return nil, err
	}
	third, err := dense(o.String()+" input 2", in[2], dt, map[bool]int{true: c, false: total}[o.kind == normFwd])
	if err != nil {
		return nil, err
	}
	out := o.output(dt, o.shape)
	sp := total / (n * c)
	st := o.st
	if o.kind == normFwd {
		st.mean = stateBuf(st.mean, dt, n*c)
		st.rstd = stateBuf(st.rstd, dt, n*c)
		if dt == tensor.Float32 {
			kernels.InstanceNormForward(floats[float32](x), floats[float32](gamma), floats[float32](third), n, c, sp, o.eps,
				floats[float32](out), floats[float32](st.mean), floats[float32](st.rstd))
		} else {
			kernels.InstanceNormForward(floats[float64](x), floats[float64](gamma), floats[float64](third), n, c, sp, o.eps,
				floats[float64](out), floats[float64](st.mean), floats[float64](st.rstd))
		}
		return out, nil
	}
	if st.mean == nil || st.mean.Dtype() != dt {
		return nil, fmt.Errorf("%v: the forward pass has not run", o)
	}
	st.dgamma = stateBuf(st.dgamma, dt, c)
	st.dbeta = stateBuf(st.dbeta, dt, c)
	if dt == tensor.Float32 {
		kernels.InstanceNormBackward(floats[float32](x), floats[float32](gamma), floats[float32](st.mean), floats[float32](st.rstd),
			floats[float32](third), n, c, sp, floats[float32](out), floats[float32](st.dgamma), floats[float32](st.dbeta))
	} else {
		kernels.InstanceNormBackward(floats[float64](x), floats[float64](gamma), floats[float64](st.mean), floats[float64](st.rstd),
			floats[float64](third), n, c, sp, floats[float64](out), floats[float64](st.dgamma), floats[float64](st.dbeta))
	}
	return out, nil
}

// stateBuf returns t if it is an n-element tensor of dtype dt, else a new one.
func stateBuf(t *tensor.Dense, dt tensor.Dtype, n int) *tensor.Dense {
	if t == nil || t.Dtype() != dt || t.Shape().TotalSize() != n {
		return tensor.New(tensor.Of(dt), tensor.WithShape(n))
	}
	return t
}

func (o *normOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	if o.kind == normFwd {
		d[0], d[1], d[2] = o.diffInput, true, true
	}
	return d
}

// SymDiff returns dx from one backward op that also computes dgamma and
// dbeta into the shared state; two reader ops, which take dx as input so the
// tape runs them after it, expose those as nodes.
func (o *normOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	if o.kind != normFwd {
		return nil, fmt.Errorf("%v: backward passes are not differentiable", o)
	}
	derived := func(k normKind) *normOp {
		d := *o
		d.base = o.b.base(normKindNames[k])
		d.kind = k
		return &d
	}
	x, gamma, beta := inputs[0], inputs[1], inputs[2]
	dx, err := apply(derived(normBwd), x.Name()+".grad", x, gamma, grad)
	if err != nil {
		return nil, err
	}
	dgamma, err := apply(derived(normDGamma), gamma.Name()+".grad", dx)
	if err != nil {
		return nil, err
	}
	dbeta, err := apply(derived(normDBeta), beta.Name()+".grad", dx)
	if err != nil {
		return nil, err
	}
	if !o.diffInput {
		dx = nil
	}
	return G.Nodes{dx, dgamma, dbeta}, nil
}
