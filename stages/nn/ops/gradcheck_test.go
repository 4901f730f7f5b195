package ops

import (
	"fmt"
	"hash"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/nnrunner/nnrunner/stages/nn/kernels"
)

// dotOp is a test-only cost: Σ x·r for a fixed r, so every output element
// of the op under test gets a distinct gradient.
type dotOp struct {
	r    []float64
	dims int
	grad bool // (x, g) -> g·r
	shp  tensor.Shape
}

func (o *dotOp) Arity() int {
	if o.grad {
		return 2
	}
	return 1
}
func (o *dotOp) Type() hm.Type {
	if o.grad {
		return fnType(o.dims, 0, o.dims)
	}
	return fnType(o.dims, 0)
}
func (o *dotOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	if o.grad {
		return o.shp, nil
	}
	return tensor.ScalarShape(), nil
}
func (o *dotOp) ReturnsPtr() bool      { return false }
func (o *dotOp) CallsExtern() bool     { return false }
func (o *dotOp) OverwritesInput() int  { return -1 }
func (o *dotOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "dot%p%v", o, o.grad) }
func (o *dotOp) Hashcode() uint32      { h := fnv.New32a(); o.WriteHash(h); return h.Sum32() }
func (o *dotOp) String() string        { return fmt.Sprintf("dot%v", o.grad) }
func (o *dotOp) Do(in ...G.Value) (G.Value, error) {
	x := in[0].Data().([]float64)
	if o.grad {
		g := in[1].Data().(float64)
		out := make([]float64, len(o.r))
		for i := range out {
			out[i] = g * o.r[i]
		}
		return tensor.New(tensor.WithShape(o.shp.Clone()...), tensor.WithBacking(out)), nil
	}
	var s float64
	for i, v := range x {
		s += v * o.r[i]
	}
	return G.NewF64(s), nil
}
func (o *dotOp) DiffWRT(int) []bool { return []bool{!o.grad} }
func (o *dotOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	d := &dotOp{r: o.r, dims: o.dims, grad: true, shp: o.shp}
	n, err := G.ApplyOpWithName(d, in[0].Name()+".dotgrad", in[0], grad)
	return G.Nodes{n}, err
}

// input makes a named float64 input node filled with values in [-1, 1).
func input(g *G.ExprGraph, rng *rand.Rand, name string, shape ...int) *G.Node {
	data := make([]float64, tensor.Shape(shape).TotalSize())
	for i := range data {
		data[i] = 2*rng.Float64() - 1
	}
	return G.NewTensor(g, tensor.Float64, len(shape), G.WithName(name), G.WithShape(shape...),
		G.WithValue(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))))
}

// gradCheck differentiates cost w.r.t. wrt on the TapeMachine and compares
// sampled gradient elements with central differences.
func gradCheck(t *testing.T, cost *G.Node, wrt ...*G.Node) {
	t.Helper()
	if _, err := G.Grad(cost, wrt...); err != nil {
		t.Fatal(err)
	}
	var cv G.Value
	G.Read(cost, &cv)
	m := G.NewTapeMachine(cost.Graph(), G.BindDualValues(wrt...))
	defer m.Close()
	run := func() float64 {
		m.Reset()
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		return cv.Data().(float64)
	}
	run()
	analytic := make([][]float64, len(wrt))
	for i, n := range wrt {
		gv, err := n.Grad()
		if err != nil {
			t.Fatal(err)
		}
		analytic[i] = append([]float64(nil), gv.Data().([]float64)...)
	}
	const h = 1e-5
	rng := rand.New(rand.NewPCG(1, 2))
	var worst float64
	for i, n := range wrt {
		data := n.Value().Data().([]float64)
		idx := rng.Perm(len(data))
		if len(idx) > 30 {
			idx = idx[:30]
		}
		for _, j := range idx {
			orig := data[j]
			data[j] = orig + h
			fp := run()
			data[j] = orig - h
			fm := run()
			data[j] = orig
			num := (fp - fm) / (2 * h)
			a := analytic[i][j]
			rel := math.Abs(num-a) / math.Max(1e-3, math.Abs(num)+math.Abs(a))
			worst = math.Max(worst, rel)
			if rel > 1e-5 {
				t.Errorf("%s[%d]: analytic %.9g, numeric %.9g (rel %.2g)", n.Name(), j, a, num, rel)
			}
		}
	}
	t.Logf("max relative error %.2g", worst)
}

// dot adds the test cost Σ y·r.
func dot(t *testing.T, rng *rand.Rand, y *G.Node) *G.Node {
	t.Helper()
	r := make([]float64, y.Shape().TotalSize())
	for i := range r {
		r[i] = 2*rng.Float64() - 1
	}
	c, err := G.ApplyOpWithName(&dotOp{r: r, dims: y.Dims(), shp: y.Shape().Clone()}, "cost", y)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConvGrad(t *testing.T) {
	tests := []struct {
		name        string
		x, w        []int
		stride, pad []int
		bias        bool
	}{
		{"3d k3 s1", []int{2, 3, 5, 6, 4}, []int{4, 3, 3, 3, 3}, []int{1, 1, 1}, []int{1, 1, 1}, true},
		{"3d k3 s2 odd", []int{1, 2, 7, 5, 9}, []int{3, 2, 3, 3, 3}, []int{2, 2, 2}, []int{1, 1, 1}, true},
		{"3d k133 s122", []int{2, 2, 3, 7, 6}, []int{3, 2, 1, 3, 3}, []int{1, 2, 2}, []int{0, 1, 1}, true},
		{"3d 1x1x1 no bias", []int{2, 3, 2, 3, 4}, []int{2, 3, 1, 1, 1}, []int{1, 1, 1}, []int{0, 0, 0}, false},
		{"2d k3 s2", []int{2, 3, 7, 6}, []int{4, 3, 3, 3}, []int{2, 2}, []int{1, 1}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			g := G.NewGraph()
			b := NewBuilder(g)
			b.InputGrads = true
			x := input(g, rng, "x", tc.x...)
			w := input(g, rng, "w", tc.w...)
			wrt := []*G.Node{x, w}
			var bias *G.Node
			if tc.bias {
				bias = input(g, rng, "b", tc.w[0])
				wrt = append(wrt, bias)
			}
			y, err := b.Conv("conv", x, w, bias, tc.stride, tc.pad)
			if err != nil {
				t.Fatal(err)
			}
			gradCheck(t, dot(t, rng, y), wrt...)
		})
	}
}

func TestConvTransposeGrad(t *testing.T) {
	tests := []struct {
		name   string
		x, w   []int
		stride []int
	}{
		{"3d k2 s2", []int{2, 3, 3, 2, 4}, []int{3, 2, 2, 2, 2}, []int{2, 2, 2}},
		{"3d k122 s122", []int{1, 4, 3, 3, 2}, []int{4, 3, 1, 2, 2}, []int{1, 2, 2}},
		{"3d k221 s221", []int{2, 2, 3, 3, 5}, []int{2, 3, 2, 2, 1}, []int{2, 2, 1}},
		{"2d k2 s2", []int{2, 3, 3, 5}, []int{3, 2, 2, 2}, []int{2, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 6))
			g := G.NewGraph()
			b := NewBuilder(g)
			b.InputGrads = true
			x := input(g, rng, "x", tc.x...)
			w := input(g, rng, "w", tc.w...)
			bias := input(g, rng, "b", tc.w[1])
			y, err := b.ConvTranspose("convT", x, w, bias, tc.stride)
			if err != nil {
				t.Fatal(err)
			}
			gradCheck(t, dot(t, rng, y), x, w, bias)
		})
	}
}

func TestInstanceNormGrad(t *testing.T) {
	tests := []struct {
		name string
		x    []int
	}{
		{"3d small", []int{2, 3, 3, 4, 2}},
		{"3d group 300", []int{1, 2, 3, 10, 10}},
		{"2d group 289", []int{2, 2, 17, 17}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 8))
			g := G.NewGraph()
			b := NewBuilder(g)
			b.InputGrads = true
			x := input(g, rng, "x", tc.x...)
			gamma := input(g, rng, "gamma", tc.x[1])
			beta := input(g, rng, "beta", tc.x[1])
			y, err := b.InstanceNorm("norm", x, gamma, beta, 1e-5)
			if err != nil {
				t.Fatal(err)
			}
			gradCheck(t, dot(t, rng, y), x, gamma, beta)
		})
	}
}

// TestChainGrad runs conv -> norm -> leaky -> strided conv -> convT ->
// concat(skip) -> 1x1 conv -> loss, the pattern of one U-Net level, with a
// tensor feeding two consumers (as encoder skips do).
func TestChainGrad(t *testing.T) {
	for _, batchDice := range []bool{false, true} {
		t.Run(fmt.Sprintf("batchDice=%v", batchDice), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(9, 10))
			g := G.NewGraph()
			b := NewBuilder(g)
			x := input(g, rng, "x", 2, 2, 4, 6, 6)
			w1 := input(g, rng, "w1", 3, 2, 3, 3, 3)
			b1 := input(g, rng, "b1", 3)
			gm := input(g, rng, "gamma", 3)
			bt := input(g, rng, "beta", 3)
			w2 := input(g, rng, "w2", 4, 3, 1, 3, 3)
			wt := input(g, rng, "wt", 4, 3, 1, 2, 2)
			w3 := input(g, rng, "w3", 3, 6, 1, 1, 1)
			b3 := input(g, rng, "b3", 3)
			labels := make([]float64, 2*4*6*6)
			for i := range labels {
				labels[i] = float64(rng.IntN(3))
			}
			target := G.NewTensor(g, tensor.Float64, 5, G.WithName("target"), G.WithShape(2, 1, 4, 6, 6),
				G.WithValue(tensor.New(tensor.WithShape(2, 1, 4, 6, 6), tensor.WithBacking(labels))))
			must := func(n *G.Node, err error) *G.Node {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			h := must(b.Conv("c1", x, w1, b1, []int{1, 1, 1}, []int{1, 1, 1}))
			h = must(b.InstanceNorm("n1", h, gm, bt, 1e-5))
			skip := must(b.LeakyReLU("a1", h, 0.01))
			d := must(b.Conv("c2", skip, w2, nil, []int{1, 2, 2}, []int{0, 1, 1}))
			u := must(b.ConvTranspose("t1", d, wt, nil, []int{1, 2, 2}))
			cat := must(b.ConcatChannels("cat", u, skip))
			logits := must(b.Conv("seg", cat, w3, b3, []int{1, 1, 1}, []int{0, 0, 0}))
			cost, terms, err := b.DiceCELoss("loss", logits, target, kernels.NewDiceCE(batchDice), 0.75)
			if err != nil {
				t.Fatal(err)
			}
			gradCheck(t, cost, w1, b1, gm, bt, w2, wt, w3, b3)
			if l, ok := terms.Last(); !ok || l.Total == 0 {
				t.Errorf("loss terms not recorded: %+v", l)
			}
		})
	}
}

func TestLeakyConcatGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	g := G.NewGraph()
	b := NewBuilder(g)
	b.InputGrads = true
	x := input(g, rng, "x", 2, 3, 3, 5, 4)
	s := input(g, rng, "s", 2, 2, 3, 5, 4)
	a, err := b.LeakyReLU("act", x, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	c, err := b.ConcatChannels("cat", a, s, x)
	if err != nil {
		t.Fatal(err)
	}
	gradCheck(t, dot(t, rng, c), x, s)
}

func TestLossGrad(t *testing.T) {
	tests := []struct {
		name      string
		shape     []int
		batchDice bool
	}{
		{"3d per-sample dice", []int{2, 3, 3, 4, 5}, false},
		{"2d batch dice", []int{3, 4, 5, 6}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(13, 14))
			g := G.NewGraph()
			b := NewBuilder(g)
			b.InputGrads = true
			logits := input(g, rng, "logits", tc.shape...)
			ts := append([]int{tc.shape[0], 1}, tc.shape[2:]...)
			labels := make([]float64, tensor.Shape(ts).TotalSize())
			for i := range labels {
				labels[i] = float64(rng.IntN(tc.shape[1]))
			}
			target := G.NewTensor(g, tensor.Float64, len(ts), G.WithName("target"), G.WithShape(ts...),
				G.WithValue(tensor.New(tensor.WithShape(ts...), tensor.WithBacking(labels))))
			cost, _, err := b.DiceCELoss("loss", logits, target, kernels.NewDiceCE(tc.batchDice), 1)
			if err != nil {
				t.Fatal(err)
			}
			gradCheck(t, cost, logits)
		})
	}
}

// TestNoNodeMerging guards against gorgonia's hash-consing: two layers with
// identical inputs and parameters must stay two nodes.
func TestNoNodeMerging(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	g := G.NewGraph()
	b := NewBuilder(g)
	x := input(g, rng, "x", 1, 2, 3, 3, 3)
	w := input(g, rng, "w", 2, 2, 3, 3, 3)
	y1, err := b.Conv("c1", x, w, nil, []int{1, 1, 1}, []int{1, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	y2, err := b.Conv("c2", x, w, nil, []int{1, 1, 1}, []int{1, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	a1, _ := b.LeakyReLU("a1", y1, 0.01)
	a2, _ := b.LeakyReLU("a2", y1, 0.01)
	if y1 == y2 || a1 == a2 {
		t.Fatal("identical layers were merged into one node")
	}
}

func TestConvNormActGrad(t *testing.T) {
	tests := []struct {
		name        string
		x, w        []int
		stride, pad []int
		bias        bool
		inputGrad   bool
	}{
		{"3d k3 s1", []int{2, 3, 5, 6, 4}, []int{4, 3, 3, 3, 3}, []int{1, 1, 1}, []int{1, 1, 1}, true, true},
		{"3d k133 s122 odd", []int{2, 2, 3, 7, 9}, []int{3, 2, 1, 3, 3}, []int{1, 2, 2}, []int{0, 1, 1}, true, true},
		{"3d no input grad", []int{1, 2, 4, 5, 6}, []int{3, 2, 3, 3, 3}, []int{2, 2, 2}, []int{1, 1, 1}, true, false},
		{"2d no bias group 289", []int{2, 2, 17, 17}, []int{3, 2, 3, 3}, []int{1, 1}, []int{1, 1}, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(17, 18))
			g := G.NewGraph()
			b := NewBuilder(g)
			b.InputGrads = tc.inputGrad
			x := input(g, rng, "x", tc.x...)
			w := input(g, rng, "w", tc.w...)
			gamma := input(g, rng, "gamma", tc.w[0])
			beta := input(g, rng, "beta", tc.w[0])
			wrt := []*G.Node{w, gamma, beta}
			if tc.inputGrad {
				wrt = append(wrt, x)
			}
			var bias *G.Node
			if tc.bias {
				bias = input(g, rng, "b", tc.w[0])
				wrt = append(wrt, bias)
			}
			y, err := b.ConvNormAct("block", x, w, bias, gamma, beta, tc.stride, tc.pad, 1e-5, 0.01)
			if err != nil {
				t.Fatal(err)
			}
			// Two blocks in a row, so the shared gradient scratch is reused.
			w2 := input(g, rng, "w2", tc.w[0], tc.w[0], tc.w[2], tc.w[3])
			if len(tc.w) == 5 {
				w2 = input(g, rng, "w2", tc.w[0], tc.w[0], 1, 1, 1)
			}
			g2 := input(g, rng, "gamma2", tc.w[0])
			b2 := input(g, rng, "beta2", tc.w[0])
			pad2 := make([]int, len(tc.pad))
			if len(tc.w) == 4 {
				pad2 = tc.pad
			}
			y2, err := b.ConvNormAct("block2", y, w2, nil, g2, b2, ones(len(tc.stride)), pad2, 1e-5, 0.01)
			if err != nil {
				t.Fatal(err)
			}
			gradCheck(t, dot(t, rng, y2), append(wrt, w2, g2, b2)...)
		})
	}
}

func ones(n int) []int {
	o := make([]int, n)
	for i := range o {
		o[i] = 1
	}
	return o
}
