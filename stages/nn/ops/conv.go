package ops

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/nnrunner/nnrunner/stages/nn/kernels"
)

// convKind says which pass of a convolution or transposed convolution an op
// computes.
type convKind int

const (
	convFwd        convKind = iota // (x, w[, b]) -> y
	convBwdData                    // (w, dy) -> dx
	convBwdFilter                  // (x, dy) -> dw
	convTFwd                       // (x, w[, b]) -> y
	convTBwdData                   // (w, dy) -> dx
	convTBwdFilter                 // (x, dy) -> dw
)

var convKindNames = [...]string{"conv", "conv.dx", "conv.dw", "convT", "convT.dx", "convT.dw"}

// convOp is one pass of a convolution (PyTorch Conv2d/Conv3d, weight
// (out, in, k...)) or transposed convolution (ConvTranspose2d/3d, weight
// (in, out, k...)). 2-D layers run as 3-D ones with depth 1.
type convOp struct {
	base
	kind      convKind
	geom      kernels.ConvGeom          // for conv kinds
	tgeom     kernels.ConvTransposeGeom // for transposed kinds
	dims      int                       // 4 or 5
	bias      bool                      // forward takes a bias input
	diffInput bool                      // forward differentiates w.r.t. x
	b         *Builder
}

// Conv adds y = conv(x, w) + bias with PyTorch semantics: x (N,Cin,spatial),
// w (Cout,Cin,k...), bias (Cout) or nil, per-axis stride and zero padding.
// 4-D tensors are 2-D convolutions, 5-D tensors 3-D ones.
func (b *Builder) Conv(name string, x, w, bias *G.Node, stride, pad []int) (*G.Node, error) {
	g, children, err := convInputs(name, x, w, bias, stride, pad)
	if err != nil {
		return nil, err
	}
	op := &convOp{base: b.base(convKindNames[convFwd]), kind: convFwd, geom: g, dims: len(shapeOf(x)), bias: bias != nil, diffInput: b.wantGrad(x), b: b}
	return apply(op, name, children...)
}

// convInputs checks the operands of a convolution (x, w, optional bias,
// per-axis stride and padding) and returns its geometry and the node's
// children (x, w and bias when given).
func convInputs(name string, x, w, bias *G.Node, stride, pad []int) (kernels.ConvGeom, []*G.Node, error) {
	xs, ws := shapeOf(x), shapeOf(w)
	in, err := spatial3(xs)
	if err != nil {
		return kernels.ConvGeom{}, nil, fmt.Errorf("%s: input: %w", name, err)
	}
	dim := len(xs) - 2
	if len(ws) != len(xs) || ws[1] != xs[1] {
		return kernels.ConvGeom{}, nil, fmt.Errorf("%s: weight shape %v does not fit input %v", name, ws, xs)
	}
	k, err := axes3(ws[2:], dim, 1)
	if err != nil {
		return kernels.ConvGeom{}, nil, fmt.Errorf("%s: kernel: %w", name, err)
	}
	st, err := axes3(stride, dim, 1)
	if err != nil {
		return kernels.ConvGeom{}, nil, fmt.Errorf("%s: stride: %w", name, err)
	}
	pd, err := axes3(pad, dim, 0)
	if err != nil {
		return kernels.ConvGeom{}, nil, fmt.Errorf("%s: padding: %w", name, err)
	}
	g := kernels.ConvGeom{N: xs[0], InC: xs[1], OutC: ws[0], In: in, Kernel: k, Stride: st, Pad: pd}
	if err := g.Validate(); err != nil {
		return kernels.ConvGeom{}, nil, fmt.Errorf("%s: %w", name, err)
	}
	children := []*G.Node{x, w}
	if bias != nil {
		if bs := shapeOf(bias); len(bs) != 1 || bs[0] != g.OutC {
			return kernels.ConvGeom{}, nil, fmt.Errorf("%s: bias shape %v, want (%d)", name, bs, g.OutC)
		}
		children = append(children, bias)
	}
	return g, children, nil
}

// ConvTranspose adds y = convT(x, w) + bias as PyTorch's ConvTranspose with
// kernel = stride and no padding (nnU-Net's upsampling): x (N,Cin,spatial),
// w (Cin,Cout,k...), bias (Cout) or nil.
func (b *Builder) ConvTranspose(name string, x, w, bias *G.Node, stride []int) (*G.Node, error) {
	xs, ws := shapeOf(x), shapeOf(w)
	in, err := spatial3(xs)
	if err != nil {
		return nil, fmt.Errorf("%s: input: %w", name, err)
	}
	dim := len(xs) - 2
	if len(ws) != len(xs) || ws[0] != xs[1] {
		return nil, fmt.Errorf("%s: weight shape %v does not fit input %v", name, ws, xs)
	}
	k, err := axes3(ws[2:], dim, 1)
	if err != nil {
		return nil, fmt.Errorf("%s: kernel: %w", name, err)
	}
	st, err := axes3(stride, dim, 1)
	if err != nil {
		return nil, fmt.Errorf("%s: stride: %w", name, err)
	}
	g := kernels.ConvTransposeGeom{N: xs[0], InC: xs[1], OutC: ws[1], In: in, Kernel: k, Stride: st}
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	op := &convOp{base: b.base(convKindNames[convTFwd]), kind: convTFwd, tgeom: g, dims: len(xs), diffInput: b.wantGrad(x), b: b}
	children := []*G.Node{x, w}
	if bias != nil {
		if bs := shapeOf(bias); len(bs) != 1 || bs[0] != g.OutC {
			return nil, fmt.Errorf("%s: bias shape %v, want (%d)", name, bs, g.OutC)
		}
		op.bias = true
		children = append(children, bias)
	}
	return apply(op, name, children...)
}

func (o *convOp) transposed() bool { return o.kind >= convTFwd }

func (o *convOp) Arity() int {
	if (o.kind == convFwd || o.kind == convTFwd) && o.bias {
		return 3
	}
	return 2
}

func (o *convOp) Type() hm.Type {
	d := o.dims
	switch o.kind {
	case convFwd, convTFwd:
		if o.bias {
			return fnType(d, d, 1, d)
		}
		return fnType(d, d, d)
	}
	return fnType(d, d, d)
}

// shapes returns the input, weight and output shapes of the layer.
func (o *convOp) shapes() (x, w, y tensor.Shape) {
	if o.transposed() {
		g := o.tgeom
		x = withSpatial(g.N, g.InC, g.In, o.dims)
		w = withSpatial(g.InC, g.OutC, g.Kernel, o.dims)
		y = withSpatial(g.N, g.OutC, g.Out(), o.dims)
		return
	}
	g := o.geom
	x = withSpatial(g.N, g.InC, g.In, o.dims)
	w = withSpatial(g.OutC, g.InC, g.Kernel, o.dims)
	y = withSpatial(g.N, g.OutC, g.Out(), o.dims)
	return
}

func (o *convOp) outShape() tensor.Shape {
	x, w, y := o.shapes()
	switch o.kind {
	case convBwdData, convTBwdData:
		return x
	case convBwdFilter, convTBwdFilter:
		return w
	}
	return y
}

func (o *convOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return o.outShape(), nil }

func (o *convOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != o.Arity() {
		return nil, fmt.Errorf("%v: %d inputs, want %d", o, len(in), o.Arity())
	}
	dt := in[0].Dtype()
	if err := checkFloat(dt); err != nil {
		return nil, fmt.Errorf("%v: %w", o, err)
	}
	xs, ws, ys := o.shapes()
	// Expected input lengths per kind: the first input, the second, the bias.
	var n0, n1 int
	switch o.kind {
	case convFwd, convTFwd:
		n0, n1 = xs.TotalSize(), ws.TotalSize()
	case convBwdData, convTBwdData:
		n0, n1 = ws.TotalSize(), ys.TotalSize()
	default:
		n0, n1 = xs.TotalSize(), ys.TotalSize()
	}
	a, err := dense(o.String()+" input 0", in[0], dt, n0)
	if err != nil {
		return nil, err
	}
	c, err := dense(o.String()+" input 1", in[1], dt, n1)
	if err != nil {
		return nil, err
	}
	var bias *tensor.Dense
	if len(in) == 3 {
		if bias, err = dense(o.String()+" bias", in[2], dt, ys[1]); err != nil {
			return nil, err
		}
	}
	out := o.output(dt, o.outShape())
	if dt == tensor.Float32 {
		runConv[float32](o, a, c, bias, out)
	} else {
		runConv[float64](o, a, c, bias, out)
	}
	return out, nil
}

func runConv[T kernels.Float](o *convOp, a, c, bias, out *tensor.Dense) {
	ws := o.ws
	A, C, B, Y := floats[T](a), floats[T](c), floats[T](bias), floats[T](out)
	switch o.kind {
	case convFwd:
		kernels.ConvForward(ws, o.geom, A, C, B, Y)
	case convBwdData:
		kernels.ConvBackwardData(ws, o.geom, C, A, Y)
	case convBwdFilter:
		kernels.ConvBackwardFilter(ws, o.geom, A, C, Y, nil)
	case convTFwd:
		kernels.ConvTransposeForward(ws, o.tgeom, A, C, B, Y)
	case convTBwdData:
		kernels.ConvTransposeBackwardData(ws, o.tgeom, C, A, Y)
	case convTBwdFilter:
		kernels.ConvTransposeBackwardFilter(ws, o.tgeom, A, C, Y, nil)
	}
}

func (o *convOp) UsePreallocDo(_ G.Value, in ...G.Value) (G.Value, error) { return o.Do(in...) }

func (o *convOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	if o.kind == convFwd || o.kind == convTFwd {
		for i := range d {
			d[i] = true
		}
		d[0] = o.diffInput
	}
	return d
}

// SymDiff returns dx = bwdData(w, dy), dw = bwdFilter(x, dy) and
// db = Σ dy over batch and space.
func (o *convOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	if o.kind != convFwd && o.kind != convTFwd {
		return nil, fmt.Errorf("%v: backward passes are not differentiable", o)
	}
	dataKind, filterKind := convBwdData, convBwdFilter
	if o.transposed() {
		dataKind, filterKind = convTBwdData, convTBwdFilter
	}
	derived := func(k convKind) *convOp {
		d := *o
		d.base = o.b.base(convKindNames[k])
		d.kind = k
		return &d
	}
	x, w := inputs[0], inputs[1]
	grads := make(G.Nodes, len(inputs))
	var err error
	if o.diffInput {
		if grads[0], err = apply(derived(dataKind), x.Name()+".grad", w, grad); err != nil {
			return nil, err
		}
	}
	if grads[1], err = apply(derived(filterKind), w.Name()+".grad", x, grad); err != nil {
		return nil, err
	}
	if o.bias {
		cs := &channelSumOp{base: o.b.base("channelsum"), dims: o.dims, shape: o.outShape()}
		if grads[2], err = apply(cs, inputs[2].Name()+".grad", grad); err != nil {
			return nil, err
		}
	}
	return grads, nil
}

// channelSumOp sums a (N,C,spatial) tensor over batch and space: the bias
// gradient. Each channel is summed in float64 in a fixed order.
type channelSumOp struct {
	base
	notDifferentiable
	dims  int
	shape tensor.Shape // input shape
}

func (o *channelSumOp) Arity() int    { return 1 }
func (o *channelSumOp) Type() hm.Type { return fnType(o.dims, 1) }
func (o *channelSumOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{o.shape[1]}, nil
}
func (o *channelSumOp) UsePreallocDo(_ G.Value, in ...G.Value) (G.Value, error) {
	return o.Do(in...)
}

func (o *channelSumOp) Do(in ...G.Value) (G.Value, error) {
	dt := in[0].Dtype()
	if err := checkFloat(dt); err != nil {
		return nil, fmt.Errorf("%v: %w", o, err)
	}
	dy, err := dense(o.String()+" input", in[0], dt, o.shape.TotalSize())
	if err != nil {
		return nil, err
	}
	out := o.output(dt, tensor.Shape{o.shape[1]})
	n, c := o.shape[0], o.shape[1]
	sp := o.shape.TotalSize() / (n * c)
	if dt == tensor.Float32 {
		channelSum(floats[float32](dy), floats[float32](out), n, c, sp)
	} else {
		channelSum(floats[float64](dy), floats[float64](out), n, c, sp)
	}
	return out, nil
}

func channelSum[T kernels.Float](dy, out []T, n, c, sp int) {
	// One goroutine per channel range; each channel is summed by one
	// goroutine in a fixed order, so the result does not depend on the split.
	workers := min(runtime.GOMAXPROCS(0), c)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for ch := w; ch < c; ch += workers {
				var s float64
				for b := range n {
					for _, v := range dy[(b*c+ch)*sp : (b*c+ch+1)*sp] {
						s += float64(v)
					}
				}
				out[ch] = T(s)
			}
		})
	}
	wg.Wait()
}
