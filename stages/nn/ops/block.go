package ops

import (
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/nnrunner/nnrunner/stages/nn/kernels"
)

// blockState is what a fused conv -> instance norm -> LeakyReLU block keeps
// between its passes: the conv output and norm statistics from the forward
// pass (with the beta it used, from which the backward pass recomputes the
// activation's signs), and the parameter gradients from the backward pass.
type blockState struct {
	z, mean, rstd, beta   *tensor.Dense
	dw, db, dgamma, dbeta *tensor.Dense
}

// blockKind says which pass of a fused block an op computes.
type blockKind int

const (
	blockFwd    blockKind = iota // (x, w, [b], gamma, beta) -> y
	blockBwd                     // (x, w, gamma, dy) -> dx, or -> dw without input gradient
	blockDW                      // (bwd) -> dw
	blockDB                      // (bwd) -> db
	blockDGamma                  // (bwd) -> dgamma
	blockDBeta                   // (bwd) -> dbeta
)

var blockKindNames = [...]string{"block", "block.bwd", "block.dw", "block.db", "block.dgamma", "block.dbeta"}

// blockOp is upstream's ConvDropoutNormReLU (no dropout) as one op:
// y = LeakyReLU(InstanceNorm(conv(x, w) + b)). Fusing keeps two tensors per
// block alive for the backward pass (conv output and block output) instead of
// three, and its backward pass works in a scratch buffer shared by all
// blocks of the builder instead of three gradient tensors.
type blockOp struct {
	base
	kind       blockKind
	geom       kernels.ConvGeom
	dims       int
	bias       bool
	eps, slope float64
	diffInput  bool
	st         *blockState
	b          *Builder
}

// ConvNormAct adds LeakyReLU(InstanceNorm(Conv(x, w) + bias)) with the
// semantics of Conv, InstanceNorm and LeakyReLU; bias may be nil.
func (b *Builder) ConvNormAct(name string, x, w, bias, gamma, beta *G.Node, stride, pad []int, eps, slope float64) (*G.Node, error) {
	if slope <= 0 {
		return nil, fmt.Errorf("%s: slope %g must be positive (the backward pass reads the output's sign)", name, slope)
	}
	g, children, err := convInputs(name, x, w, bias, stride, pad)
	if err != nil {
		return nil, err
	}
	for _, p := range []*G.Node{gamma, beta} {
		if s := shapeOf(p); len(s) != 1 || s[0] != g.OutC {
			return nil, fmt.Errorf("%s: affine parameter %s has shape %v, want (%d)", name, p.Name(), s, g.OutC)
		}
	}
	children = append(children, gamma, beta)
	op := &blockOp{base: b.base(blockKindNames[blockFwd]), kind: blockFwd, geom: g, dims: len(shapeOf(x)), bias: bias != nil,
		eps: eps, slope: slope, diffInput: b.wantGrad(x), st: new(blockState), b: b}
	return apply(op, name, children...)
}

func (o *blockOp) shapes() (x, w, y tensor.Shape) {
	g := o.geom
	return withSpatial(g.N, g.InC, g.In, o.dims), withSpatial(g.OutC, g.InC, g.Kernel, o.dims), withSpatial(g.N, g.OutC, g.Out(), o.dims)
}

func (o *blockOp) Arity() int {
	switch o.kind {
	case blockFwd:
		if o.bias {
			return 5
		}
		return 4
	case blockBwd:
		return 4
	}
	return 1
}

func (o *blockOp) outShape() tensor.Shape {
	x, w, y := o.shapes()
	switch o.kind {
	case blockFwd:
		return y
	case blockBwd:
		if o.diffInput {
			return x
		}
		return w
	case blockDW:
		return w
	}
	return tensor.Shape{o.geom.OutC}
}

func (o *blockOp) Type() hm.Type {
	d := o.dims
	switch o.kind {
	case blockFwd:
		if o.bias {
			return fnType(d, d, 1, 1, 1, d)
		}
		return fnType(d, d, 1, 1, d)
	case blockBwd:
		return fnType(d, d, 1, d, d)
	}
	// Readers take the backward node, whose rank is that of x or w (equal).
	return fnType(d, len(o.outShape()))
}

func (o *blockOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return o.outShape(), nil }

func (o *blockOp) UsePreallocDo(_ G.Value, in ...G.Value) (G.Value, error) { return o.Do(in...) }

func (o *blockOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != o.Arity() {
		return nil, fmt.Errorf("%v: %d inputs, want %d", o, len(in), o.Arity())
	}
	dt := in[0].Dtype()
	if err := checkFloat(dt); err != nil {
		return nil, fmt.Errorf("%v: %w", o, err)
	}
	st := o.st
	var src *tensor.Dense
	switch o.kind {
	case blockDW:
		src = st.dw
	case blockDB:
		src = st.db
	case blockDGamma:
		src = st.dgamma
	case blockDBeta:
		src = st.dbeta
	}
	if o.kind >= blockDW {
		if src == nil {
			return nil, fmt.Errorf("%v: the backward pass has not run", o)
		}
		return src, nil
	}
	xs, ws, ys := o.shapes()
	c := o.geom.OutC
	x, err := dense(o.String()+" input", in[0], dt, xs.TotalSize())
	if err != nil {
		return nil, err
	}
	w, err := dense(o.String()+" weight", in[1], dt, ws.TotalSize())
	if err != nil {
		return nil, err
	}
	if o.kind == blockFwd {
		vals := in[2:]
		var bias *tensor.Dense
		if o.bias {
			if bias, err = dense(o.String()+" bias", vals[0], dt, c); err != nil {
				return nil, err
			}
			vals = vals[1:]
		}
		gamma, err := dense(o.String()+" gamma", vals[0], dt, c)
		if err != nil {
			return nil, err
		}
		beta, err := dense(o.String()+" beta", vals[1], dt, c)
		if err != nil {
			return nil, err
		}
		st.z = stateBuf(st.z, dt, ys.TotalSize())
		st.mean = stateBuf(st.mean, dt, o.geom.N*c)
		st.rstd = stateBuf(st.rstd, dt, o.geom.N*c)
		st.beta = stateBuf(st.beta, dt, c)
		out := o.output(dt, ys)
		if dt == tensor.Float32 {
			blockForward[float32](o, x, w, bias, gamma, beta, out)
		} else {
			blockForward[float64](o, x, w, bias, gamma, beta, out)
		}
		return out, nil
	}
	gamma, err := dense(o.String()+" gamma", in[2], dt, c)
	if err != nil {
		return nil, err
	}
	dy, err := dense(o.String()+" output gradient", in[3], dt, ys.TotalSize())
	if err != nil {
		return nil, err
	}
	if st.z == nil || st.z.Dtype() != dt {
		return nil, fmt.Errorf("%v: the forward pass has not run", o)
	}
	if st.dw == nil || st.dw.Dtype() != dt || !st.dw.Shape().Eq(ws) {
		st.dw = tensor.New(tensor.Of(dt), tensor.WithShape(ws.Clone()...))
	}
	st.dgamma = stateBuf(st.dgamma, dt, c)
	st.dbeta = stateBuf(st.dbeta, dt, c)
	if o.bias {
		st.db = stateBuf(st.db, dt, c)
	}
	var out *tensor.Dense
	if o.diffInput {
		out = o.output(dt, xs)
	}
	if dt == tensor.Float32 {
		blockBackward[float32](o, x, w, gamma, dy, out)
	} else {
		blockBackward[float64](o, x, w, gamma, dy, out)
	}
	if out == nil {
		// Without an input gradient the node's value is dw.
		return st.dw, nil
	}
	return out, nil
}

func blockForward[T kernels.Float](o *blockOp, x, w, bias, gamma, beta, out *tensor.Dense) {
	g, st := o.geom, o.st
	z, y := floats[T](st.z), floats[T](out)
	kernels.ConvForward(o.ws, g, floats[T](x), floats[T](w), floats[T](bias), z)
	copy(floats[T](st.beta), floats[T](beta))
	kernels.InstanceNormLeakyReLUForward(z, floats[T](gamma), floats[T](beta), g.N, g.OutC, prod3(g.Out()), o.eps, T(o.slope),
		y, floats[T](st.mean), floats[T](st.rstd))
}

func blockBackward[T kernels.Float](o *blockOp, x, w, gamma, dy, dx *tensor.Dense) {
	g, st := o.geom, o.st
	dz := blockScratch[T](o.b, len(floats[T](dy)))
	kernels.InstanceNormLeakyReLUBackward(floats[T](st.z), floats[T](gamma), floats[T](st.beta), floats[T](st.mean), floats[T](st.rstd),
		floats[T](dy), g.N, g.OutC, prod3(g.Out()), T(o.slope), dz, floats[T](st.dgamma), floats[T](st.dbeta))
	kernels.ConvBackwardFilter(o.ws, g, floats[T](x), dz, floats[T](st.dw), floats[T](st.db))
	if dx != nil {
		kernels.ConvBackwardData(o.ws, g, dz, floats[T](w), floats[T](dx))
	}
}

// blockScratch returns n elements of the builder's block-gradient scratch.
// Backward ops run one at a time on the tape and use it only within Do.
func blockScratch[T kernels.Float](b *Builder, n int) []T {
	var z T
	switch any(z).(type) {
	case float32:
		if len(b.scratch32) < n {
			b.scratch32 = make([]float32, n)
		}
		return any(b.scratch32[:n]).([]T)
	default:
		if len(b.scratch64) < n {
			b.scratch64 = make([]float64, n)
		}
		return any(b.scratch64[:n]).([]T)
	}
}

func (o *blockOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	if o.kind == blockFwd {
		for i := range d {
			d[i] = true
		}
		d[0] = o.diffInput
	}
	return d
}

// SymDiff adds one backward op (dx, or dw when no input gradient is needed)
// and reader ops for the parameter gradients it leaves in the state.
func (o *blockOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if o.kind != blockFwd {
		return nil, fmt.Errorf("%v: backward passes are not differentiable", o)
	}
	derived := func(k blockKind) *blockOp {
		d := *o
		d.base = o.b.base(blockKindNames[k])
		d.kind = k
		return &d
	}
	x, w := inputs[0], inputs[1]
	params := inputs[2:]
	gamma := params[len(params)-2]
	name := output.Name() + ".grad"
	bwd, err := apply(derived(blockBwd), name, x, w, gamma, grad)
	if err != nil {
		return nil, err
	}
	grads := make(G.Nodes, len(inputs))
	if o.diffInput {
		grads[0] = bwd
		if grads[1], err = apply(derived(blockDW), w.Name()+".grad", bwd); err != nil {
			return nil, err
		}
	} else {
		grads[1] = bwd
	}
	kinds := []blockKind{blockDGamma, blockDBeta}
	if o.bias {
		kinds = []blockKind{blockDB, blockDGamma, blockDBeta}
	}
	for i, k := range kinds {
		if grads[2+i], err = apply(derived(k), params[i].Name()+".grad", bwd); err != nil {
			return nil, err
		}
	}
	return grads, nil
}
