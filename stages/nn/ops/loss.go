package ops

import (
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/nnrunner/nnrunner/stages/nn/kernels"
)

// lossState carries the logits gradient from the fused forward pass to the
// backward op, and the last loss terms to the caller.
type lossState struct {
	needGrad bool          // a backward op exists: compute dlogits in the forward pass
	dlogits  *tensor.Dense // weight · dLoss/dlogits of the last forward pass
	last     kernels.Loss
	ran      bool
}

// lossOp is nnU-Net's DC_and_CE_loss on (logits, target), times a weight
// (grad false), or the backward pass (lossOut, dL) -> dlogits (grad true).
type lossOp struct {
	base
	cfg    kernels.DiceCE
	shape  tensor.Shape // logits shape
	weight float64
	st     *lossState
	grad   bool
	b      *Builder
}

// LossTerms reads the unweighted loss terms of the last run of a loss node.
type LossTerms struct{ st *lossState }

// Last returns the loss terms (total, CE, Dice) of the last run, unweighted,
// and false before the first run.
func (l LossTerms) Last() (kernels.Loss, bool) { return l.st.last, l.st.ran }

// DiceCELoss adds weight·(CE + Dice) of logits (N,C,spatial) against target
// (N,1,spatial), holding class labels as floats, as a scalar node. The
// softmax, both loss terms and the logits gradient are computed by one fused
// kernel in the forward pass; the backward pass only scales that gradient.
func (b *Builder) DiceCELoss(name string, logits, target *G.Node, cfg kernels.DiceCE, weight float64) (*G.Node, LossTerms, error) {
	ls, ts := shapeOf(logits), shapeOf(target)
	if _, err := spatial3(ls); err != nil {
		return nil, LossTerms{}, fmt.Errorf("%s: logits: %w", name, err)
	}
	if len(ts) != len(ls) || ts[0] != ls[0] || ts[1] != 1 || !ts[2:].Eq(ls[2:]) {
		return nil, LossTerms{}, fmt.Errorf("%s: target shape %v does not fit logits %v (want N,1,spatial)", name, ts, ls)
	}
	op := &lossOp{base: b.base("dicece"), cfg: cfg, shape: ls.Clone(), weight: weight, st: new(lossState), b: b}
	n, err := apply(op, name, logits, target)
	if err != nil {
		return nil, LossTerms{}, err
	}
	return n, LossTerms{op.st}, nil
}

func (o *lossOp) Arity() int { return 2 }

func (o *lossOp) Type() hm.Type {
	d := len(o.shape)
	if o.grad {
		return fnType(0, 0, d)
	}
	return fnType(d, d, 0)
}

func (o *lossOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	if o.grad {
		return o.shape, nil
	}
	return tensor.ScalarShape(), nil
}

func (o *lossOp) UsePreallocDo(_ G.Value, in ...G.Value) (G.Value, error) { return o.Do(in...) }

func (o *lossOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != 2 {
		return nil, fmt.Errorf("%v: %d inputs, want 2", o, len(in))
	}
	if o.grad {
		return o.backward(in[1])
	}
	dt := in[0].Dtype()
	if err := checkFloat(dt); err != nil {
		return nil, fmt.Errorf("%v: %w", o, err)
	}
	total := o.shape.TotalSize()
	n, c := o.shape[0], o.shape[1]
	sp := total / (n * c)
	logits, err := dense(o.String()+" logits", in[0], dt, total)
	if err != nil {
		return nil, err
	}
	target, err := dense(o.String()+" target", in[1], dt, n*sp)
	if err != nil {
		return nil, err
	}
	var dl *tensor.Dense
	if o.st.needGrad {
		if o.st.dlogits == nil || o.st.dlogits.Dtype() != dt {
			o.st.dlogits = tensor.New(tensor.Of(dt), tensor.WithShape(o.shape.Clone()...))
		}
		dl = o.st.dlogits
	}
	var l kernels.Loss
	if dt == tensor.Float32 {
		var d []float32
		if dl != nil {
			d = floats[float32](dl)
		}
		l, err = kernels.DiceCELoss(o.cfg, floats[float32](logits), floats[float32](target), n, c, sp, float32(o.weight), d)
	} else {
		var d []float64
		if dl != nil {
			d = floats[float64](dl)
		}
		l, err = kernels.DiceCELoss(o.cfg, floats[float64](logits), floats[float64](target), n, c, sp, o.weight, d)
	}
	if err != nil {
		return nil, fmt.Errorf("%v: %w", o, err)
	}
	o.st.last, o.st.ran = l, true
	if dt == tensor.Float32 {
		return G.NewF32(float32(o.weight * l.Total)), nil
	}
	return G.NewF64(o.weight * l.Total), nil
}

// backward scales the cached logits gradient by the incoming gradient.
func (o *lossOp) backward(grad G.Value) (G.Value, error) {
	dl := o.st.dlogits
	if dl == nil || !o.st.ran {
		return nil, fmt.Errorf("%v: the forward pass has not run", o)
	}
	var g float64
	switch v := grad.Data().(type) {
	case float32:
		g = float64(v)
	case float64:
		g = v
	case []float32:
		g = float64(v[0])
	case []float64:
		g = v[0]
	default:
		return nil, fmt.Errorf("%v: incoming gradient of type %T", o, v)
	}
	if g != 1 {
		switch d := dl.Data().(type) {
		case []float32:
			for i := range d {
				d[i] *= float32(g)
			}
		case []float64:
			for i := range d {
				d[i] *= g
			}
		}
	}
	return dl, nil
}

func (o *lossOp) DiffWRT(int) []bool { return []bool{!o.grad, false} }

// SymDiff returns the cached logits gradient; the backward op takes the loss
// output as input so the tape runs it after the forward pass.
func (o *lossOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if o.grad {
		return nil, fmt.Errorf("%v: backward passes are not differentiable", o)
	}
	o.st.needGrad = true
	d := *o
	d.base = o.b.base("dicece.dlogits")
	d.grad = true
	dl, err := apply(&d, inputs[0].Name()+".grad", output, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dl, nil}, nil
}
