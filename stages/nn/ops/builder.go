// Package ops wires the network kernels (stages/nn/kernels) into gorgonia as
// custom operations (Op + SDOp + UsePreallocDoer): convolution and transposed
// convolution with bias, instance norm, LeakyReLU, channel concatenation and
// the fused softmax + cross-entropy + soft Dice loss. gorgonia supplies the
// graph, the symbolic gradient and the tape; every numeric step runs in the
// kernels.
//
// Rules that keep clear of gorgonia's known traps (spec gorgonia-notes §8):
// every op carries a unique id in its hash, so no two nodes are ever merged;
// every node is named; no built-in GroupNorm, multi-axis Sum, SoftMax or
// broadcasting is used; backward ops take as inputs every tensor they read,
// so the tape's liveness analysis never recycles a buffer still needed.
//
// Each op owns its output buffer and returns it from every run, so a training
// step allocates almost nothing; a node's value is therefore valid until the
// next run of the graph. Ops of one Builder share one kernel workspace, so a
// graph must be run by one machine at a time.
package ops

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/nnrunner/nnrunner/stages/nn/kernels"
)

// Builder creates custom-op nodes on one graph.
type Builder struct {
	g  *G.ExprGraph
	ws *kernels.Workspace
	id int // ids handed out so far; every op's hash includes its id

	// Gradient scratch of fused blocks, used by one op at a time.
	scratch32 []float32
	scratch64 []float64

	// InputGrads makes ops differentiate with respect to graph inputs that
	// are not parameters (e.g. the image), which training never needs but
	// gradient checks do.
	InputGrads bool
}

// NewBuilder returns a builder for graph g.
func NewBuilder(g *G.ExprGraph) *Builder {
	return &Builder{g: g, ws: new(kernels.Workspace)}
}

// Graph returns the graph the builder adds to.
func (b *Builder) Graph() *G.ExprGraph { return b.g }

func (b *Builder) base(kind string) base {
	b.id++
	return base{kind: kind, id: b.id, ws: b.ws}
}

// wantGrad reports whether an op should differentiate with respect to n:
// always for computed nodes, for inputs only when InputGrads is set.
func (b *Builder) wantGrad(n *G.Node) bool {
	return b.InputGrads || n.Op() != nil
}

// base holds what every op shares: identity, workspace and output buffer.
type base struct {
	kind string
	id   int
	ws   *kernels.Workspace
	out  *tensor.Dense
}

func (o *base) ReturnsPtr() bool      { return false }
func (o *base) CallsExtern() bool     { return false }
func (o *base) OverwritesInput() int  { return -1 }
func (o *base) WriteHash(h hash.Hash) { fmt.Fprintf(h, "nnops.%s#%d", o.kind, o.id) }
func (o *base) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}
func (o *base) String() string { return fmt.Sprintf("%s#%d", o.kind, o.id) }

// output returns the op's own output buffer, allocated on first use.
func (o *base) output(dt tensor.Dtype, shape tensor.Shape) *tensor.Dense {
	if o.out == nil || o.out.Dtype() != dt || !o.out.Shape().Eq(shape) {
		o.out = tensor.New(tensor.Of(dt), tensor.WithShape(shape.Clone()...))
	}
	return o.out
}

// tensorType is the gorgonia type of a dims-D tensor of the type variable a.
func tensorType(dims int) hm.Type {
	return G.TensorType{Dims: dims, Of: hm.TypeVariable('a')}
}

// fnType builds an op type from input and output dimensions (0 = scalar).
func fnType(dims ...int) hm.Type {
	ts := make([]hm.Type, len(dims))
	for i, d := range dims {
		if d == 0 {
			ts[i] = hm.TypeVariable('a')
		} else {
			ts[i] = tensorType(d)
		}
	}
	return hm.NewFnType(ts...)
}

// dense returns v as a float tensor, checking its dtype and length.
func dense(what string, v G.Value, dt tensor.Dtype, n int) (*tensor.Dense, error) {
	d, ok := v.(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("%s: got %T, want a dense tensor", what, v)
	}
	if d.Dtype() != dt {
		return nil, fmt.Errorf("%s: dtype %v, want %v", what, d.Dtype(), dt)
	}
	if d.Shape().TotalSize() != n {
		return nil, fmt.Errorf("%s: %d elements (shape %v), want %d", what, d.Shape().TotalSize(), d.Shape(), n)
	}
	return d, nil
}

// floats returns the backing slice of a float32 or float64 tensor as []T.
func floats[T kernels.Float](d *tensor.Dense) []T {
	if d == nil {
		return nil
	}
	return d.Data().([]T)
}

// checkFloat rejects dtypes the kernels do not handle.
func checkFloat(dt tensor.Dtype) error {
	if dt != tensor.Float32 && dt != tensor.Float64 {
		return fmt.Errorf("dtype %v: only float32 and float64 are supported", dt)
	}
	return nil
}

// shapeOf returns a node's static shape.
func shapeOf(n *G.Node) tensor.Shape { return n.Shape() }

// spatial3 maps the spatial part of a 4-D (N,C,H,W) or 5-D (N,C,D,H,W) shape
// onto the kernels' (D,H,W), with D = 1 for 2-D.
func spatial3(s tensor.Shape) ([3]int, error) {
	switch len(s) {
	case 4:
		return [3]int{1, s[2], s[3]}, nil
	case 5:
		return [3]int{s[2], s[3], s[4]}, nil
	}
	return [3]int{}, fmt.Errorf("shape %v: want 4-D (N,C,H,W) or 5-D (N,C,D,H,W)", s)
}

// axes3 maps per-axis values of a 2-D or 3-D layer onto (D,H,W), filling
// the missing depth with fill.
func axes3(v []int, dim, fill int) ([3]int, error) {
	if len(v) != dim {
		return [3]int{}, fmt.Errorf("%v: want %d entries", v, dim)
	}
	if dim == 2 {
		return [3]int{fill, v[0], v[1]}, nil
	}
	return [3]int{v[0], v[1], v[2]}, nil
}

// withSpatial returns (n, c, spatial...) in the layout of a dims-D tensor.
func withSpatial(n, c int, sp [3]int, dims int) tensor.Shape {
	if dims == 4 {
		return tensor.Shape{n, c, sp[1], sp[2]}
	}
	return tensor.Shape{n, c, sp[0], sp[1], sp[2]}
}

func prod3(v [3]int) int { return v[0] * v[1] * v[2] }

// apply adds op to the graph as a node called name.
func apply(op G.Op, name string, children ...*G.Node) (*G.Node, error) {
	n, err := G.ApplyOpWithName(op, name, children...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return n, nil
}

// notDifferentiable is embedded by backward ops, which the tape runs but
// never differentiates.
type notDifferentiable struct{}

func (notDifferentiable) DiffWRT(n int) []bool { return make([]bool, n) }
func (notDifferentiable) SymDiff(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) {
	return nil, fmt.Errorf("backward ops are not differentiable")
}
