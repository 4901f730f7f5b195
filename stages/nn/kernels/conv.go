package kernels

import (
	"fmt"

	"github.com/nnrunner/nnrunner/stages/nn/blas"
)

// colBudget is the number of elements of the column matrix built per GEMM
// chunk: large enough for efficient GEMMs, small enough to stay in cache.
const colBudget = 1 << 20

// ConvGeom is the geometry of a convolution over NCDHW tensors, as PyTorch's
// Conv3d(InC, OutC, Kernel, Stride, Pad) with dilation 1 and groups 1. For a
// 2-D convolution set In[0], Kernel[0] and Stride[0] to 1 and Pad[0] to 0.
type ConvGeom struct {
	N      int    // batch size
	InC    int    // input channels
	OutC   int    // output channels
	In     [3]int // input spatial size (D, H, W)
	Kernel [3]int // kernel size per axis
	Stride [3]int // stride per axis
	Pad    [3]int // zero padding per side, per axis
}

// Validate reports whether the geometry describes a valid convolution.
func (g ConvGeom) Validate() error {
	if g.N < 1 || g.InC < 1 || g.OutC < 1 {
		return fmt.Errorf("conv geometry: batch %d, channels %d→%d must be positive", g.N, g.InC, g.OutC)
	}
	for a := range 3 {
		if g.In[a] < 1 || g.Kernel[a] < 1 || g.Stride[a] < 1 || g.Pad[a] < 0 {
			return fmt.Errorf("conv geometry: axis %d: input %d, kernel %d, stride %d, pad %d out of range",
				a, g.In[a], g.Kernel[a], g.Stride[a], g.Pad[a])
		}
		if g.In[a]+2*g.Pad[a] < g.Kernel[a] {
			return fmt.Errorf("conv geometry: axis %d: kernel %d larger than padded input %d",
				a, g.Kernel[a], g.In[a]+2*g.Pad[a])
		}
	}
	return nil
}

// Out returns the output spatial size: (in + 2·pad − kernel) / stride + 1.
func (g ConvGeom) Out() [3]int {
	var o [3]int
	for a := range 3 {
		o[a] = (g.In[a]+2*g.Pad[a]-g.Kernel[a])/g.Stride[a] + 1
	}
	return o
}

// InLen is the length of the input tensor: N·InC·D·H·W.
func (g ConvGeom) InLen() int { return g.N * g.InC * prod(g.In) }

// OutLen is the length of the output tensor.
func (g ConvGeom) OutLen() int { return g.N * g.OutC * prod(g.Out()) }

// WeightLen is the length of the weight tensor (OutC, InC, kd, kh, kw).
func (g ConvGeom) WeightLen() int { return g.OutC * g.InC * prod(g.Kernel) }

// FLOPs is the multiply-add count ×2 of one forward pass (backward-data and
// backward-filter cost the same each).
func (g ConvGeom) FLOPs() float64 {
	return 2 * float64(g.OutLen()) * float64(g.InC*prod(g.Kernel))
}

func prod(v [3]int) int { return v[0] * v[1] * v[2] }

// pointwise reports whether the convolution is a 1×1×1, stride-1, unpadded
// one, whose column matrix is the input itself.
func (g *ConvGeom) pointwise() bool {
	return g.Kernel == [3]int{1, 1, 1} && g.Stride == [3]int{1, 1, 1} && g.Pad == [3]int{}
}

// rowsPerChunk is how many output rows (an output row is one (d, h) pair)
// one column-matrix chunk covers.
func (g *ConvGeom) rowsPerChunk(ws *Workspace) int {
	budget := colBudget
	if ws != nil && ws.colBudget > 0 {
		budget = ws.colBudget
	}
	return max(1, budget/(g.InC*prod(g.Kernel)*g.Out()[2]))
}

func (g *ConvGeom) mustValid() {
	if err := g.Validate(); err != nil {
		panic("kernels: " + err.Error())
	}
}

// ConvForward computes y = conv(x, w) + bias. x has InLen elements, w
// WeightLen, bias OutC (or nil for no bias), y OutLen.
func ConvForward[T Float](ws *Workspace, g ConvGeom, x, w, bias, y []T) {
	g.mustValid()
	mustLen("conv input", x, g.InLen())
	mustLen("conv weight", w, g.WeightLen())
	mustLen("conv output", y, g.OutLen())
	if bias != nil {
		mustLen("conv bias", bias, g.OutC)
	}
	if xs, ok := any(x).([]float32); ok && g.direct(ws, directMaxWaste) {
		convDirect(ws, &g, xs, any(w).([]float32), any(bias).([]float32), any(y).([]float32))
		return
	}
	out := g.Out()
	p, pin := prod(out), prod(g.In)
	kc := g.InC * prod(g.Kernel)
	// With a bias, y starts as the bias and the GEMMs add to it (beta 1):
	// one write pass instead of BLAS zeroing y and a second pass adding.
	var beta T
	if bias != nil {
		fillChannelBias(y, bias, g.N, g.OutC, p)
		beta = 1
	}
	for n := range g.N {
		xn := x[n*g.InC*pin : (n+1)*g.InC*pin]
		yn := y[n*g.OutC*p : (n+1)*g.OutC*p]
		if g.pointwise() {
			blas.Gemm(false, false, g.OutC, p, g.InC, 1, w, g.InC, xn, p, beta, yn, p)
			continue
		}
		rows, rpc := out[0]*out[1], g.rowsPerChunk(ws)
		col := scratch[T](ws, slotCol, kc*min(rpc, rows)*out[2])
		for r0 := 0; r0 < rows; r0 += rpc {
			r1 := min(rows, r0+rpc)
			nc := (r1 - r0) * out[2]
			vol2col(&g, xn, r0, r1, col[:kc*nc])
			blas.Gemm(false, false, g.OutC, nc, kc, 1, w, kc, col, nc, beta, yn[r0*out[2]:], p)
		}
	}
}

// ConvBackwardData computes dx, the gradient of the input, from dy, the
// gradient of the output.
func ConvBackwardData[T Float](ws *Workspace, g ConvGeom, dy, w, dx []T) {
	g.mustValid()
	mustLen("conv output gradient", dy, g.OutLen())
	mustLen("conv weight", w, g.WeightLen())
	mustLen("conv input gradient", dx, g.InLen())
	if g.flippable() {
		// dx is the convolution of dy with the flipped, transposed kernel: a
		// gather with forward-shaped GEMMs instead of a scatter.
		fg, wf := g.flipped(), scratch[T](ws, slotWeight, g.WeightLen())
		flipWeights(&g, w, wf)
		ConvForward(ws, fg, dy, wf, nil, dx)
		return
	}
	if dys, ok := any(dy).([]float32); ok && g.directData(ws) {
		convDirectData(ws, &g, dys, any(w).([]float32), any(dx).([]float32))
		return
	}
	out := g.Out()
	p, pin := prod(out), prod(g.In)
	kc := g.InC * prod(g.Kernel)
	for n := range g.N {
		dyn := dy[n*g.OutC*p : (n+1)*g.OutC*p]
		dxn := dx[n*g.InC*pin : (n+1)*g.InC*pin]
		if g.pointwise() {
			blas.Gemm(true, false, g.InC, p, g.OutC, 1, w, g.InC, dyn, p, 0, dxn, p)
			continue
		}
		clear(dxn)
		rows, rpc := out[0]*out[1], g.rowsPerChunk(ws)
		col := scratch[T](ws, slotCol, kc*min(rpc, rows)*out[2])
		for r0 := 0; r0 < rows; r0 += rpc {
			r1 := min(rows, r0+rpc)
			nc := (r1 - r0) * out[2]
			blas.Gemm(true, false, kc, nc, g.OutC, 1, w, kc, dyn[r0*out[2]:], p, 0, col, nc)
			col2vol(&g, col[:kc*nc], r0, r1, dxn)
		}
	}
}

// flippable reports whether the backward-data pass is itself a convolution:
// stride 1 and padding at most kernel−1 on every axis (not pointwise, which
// is a plain GEMM already).
func (g *ConvGeom) flippable() bool {
	for a := range 3 {
		if g.Stride[a] != 1 || g.Pad[a] > g.Kernel[a]-1 {
			return false
		}
	}
	return !g.pointwise()
}

// flipped is the convolution of dy that yields dx for a flippable g.
func (g *ConvGeom) flipped() ConvGeom {
	f := ConvGeom{N: g.N, InC: g.OutC, OutC: g.InC, In: g.Out(), Kernel: g.Kernel, Stride: g.Stride}
	for a := range 3 {
		f.Pad[a] = g.Kernel[a] - 1 - g.Pad[a]
	}
	return f
}

// flipWeights writes wf[ci, co, t] = w[co, ci, K−1−t], the weights of the
// flipped convolution.
func flipWeights[T Float](g *ConvGeom, w, wf []T) {
	k := prod(g.Kernel)
	parallelFor(g.OutC, max(1, 1<<14/(g.InC*k)), func(lo, hi int) {
		for co := lo; co < hi; co++ {
			for ci := range g.InC {
				src := w[(co*g.InC+ci)*k : (co*g.InC+ci+1)*k]
				dst := wf[(ci*g.OutC+co)*k : (ci*g.OutC+co+1)*k]
				for t, v := range src {
					dst[k-1-t] = v
				}
			}
		}
	})
}

// ConvBackwardFilter computes dw, the weight gradient, and dbias (nil to
// skip), the bias gradient, summed over the batch.
func ConvBackwardFilter[T Float](ws *Workspace, g ConvGeom, x, dy, dw, dbias []T) {
	g.mustValid()
	mustLen("conv input", x, g.InLen())
	mustLen("conv output gradient", dy, g.OutLen())
	mustLen("conv weight gradient", dw, g.WeightLen())
	if dbias != nil {
		mustLen("conv bias gradient", dbias, g.OutC)
	}
	if xs, ok := any(x).([]float32); ok && g.direct(ws, g.filterWaste()) {
		convDirectFilter(ws, &g, xs, any(dy).([]float32), any(dw).([]float32))
		if dbias != nil {
			channelSums(dy, g.N, g.OutC, prod(g.Out()), dbias)
		}
		return
	}
	out := g.Out()
	p, pin := prod(out), prod(g.In)
	kc := g.InC * prod(g.Kernel)
	var beta T
	for n := range g.N {
		xn := x[n*g.InC*pin : (n+1)*g.InC*pin]
		dyn := dy[n*g.OutC*p : (n+1)*g.OutC*p]
		if g.pointwise() {
			blas.Gemm(false, true, g.OutC, g.InC, p, 1, dyn, p, xn, p, beta, dw, g.InC)
			beta = 1
			continue
		}
		rows, rpc := out[0]*out[1], g.rowsPerChunk(ws)
		col := scratch[T](ws, slotCol, kc*min(rpc, rows)*out[2])
		for r0 := 0; r0 < rows; r0 += rpc {
			r1 := min(rows, r0+rpc)
			nc := (r1 - r0) * out[2]
			vol2col(&g, xn, r0, r1, col[:kc*nc])
			blas.Gemm(false, true, g.OutC, kc, nc, 1, dyn[r0*out[2]:], p, col, nc, beta, dw, kc)
			beta = 1
		}
	}
	if dbias != nil {
		channelSums(dy, g.N, g.OutC, p, dbias)
	}
}

// addChannelBias adds bias[c] to every element of channel c of t (n, c, p).
func addChannelBias[T Float](t, bias []T, n, c, p int) {
	parallelFor(n*c, max(1, 1<<14/p), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			b := bias[i%c]
			for j, v := range t[i*p : (i+1)*p] {
				t[i*p+j] = v + b
			}
		}
	})
}

// fillChannelBias sets every element of channel c of t (n, c, p) to bias[c].
func fillChannelBias[T Float](t, bias []T, n, c, p int) {
	parallelFor(n*c, max(1, 1<<14/p), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			plane, b := t[i*p:(i+1)*p], bias[i%c]
			for j := range plane {
				plane[j] = b
			}
		}
	})
}

// channelSums writes s[c] = Σ over batch and space of t (n, c, p).
func channelSums[T Float](t []T, n, c, p int, s []T) {
	parallelFor(c, max(1, 1<<14/(n*p)), func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			var acc float64
			for b := range n {
				acc += sum64(t[(b*c+ch)*p : (b*c+ch+1)*p])
			}
			s[ch] = T(acc)
		}
	})
}

// sum64 sums v in float64, left to right in four interleaved lanes.
func sum64[T Float](v []T) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(v); i += 4 {
		s0 += float64(v[i])
		s1 += float64(v[i+1])
		s2 += float64(v[i+2])
		s3 += float64(v[i+3])
	}
	for ; i < len(v); i++ {
		s0 += float64(v[i])
	}
	return (s0 + s1) + (s2 + s3)
}
