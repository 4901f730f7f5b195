package kernels

import "fmt"

// ConvTransposeGeom is the geometry of a transposed convolution over NCDHW
// tensors, as PyTorch's ConvTranspose3d(InC, OutC, Kernel, Stride, Pad) with
// output_padding 0, dilation 1 and groups 1. nnU-Net's decoder uses
// Kernel = Stride and Pad 0. For 2-D set In[0], Kernel[0] and Stride[0] to 1.
//
// It is computed as the adjoint of the convolution returned by Conv, so the
// two share kernels: the weight (InC, OutC, kd, kh, kw) is that convolution's
// weight.
type ConvTransposeGeom struct {
	N      int    // batch size
	InC    int    // input channels
	OutC   int    // output channels
	In     [3]int // input spatial size (D, H, W)
	Kernel [3]int // kernel size per axis
	Stride [3]int // stride per axis
	Pad    [3]int // padding removed per side, per axis
}

// Out returns the output spatial size: (in − 1)·stride − 2·pad + kernel.
func (g ConvTransposeGeom) Out() [3]int {
	var o [3]int
	for a := range 3 {
		o[a] = (g.In[a]-1)*g.Stride[a] - 2*g.Pad[a] + g.Kernel[a]
	}
	return o
}

// Conv returns the convolution whose backward-data pass is this transposed
// convolution's forward pass.
func (g ConvTransposeGeom) Conv() ConvGeom {
	return ConvGeom{N: g.N, InC: g.OutC, OutC: g.InC, In: g.Out(), Kernel: g.Kernel, Stride: g.Stride, Pad: g.Pad}
}

// Validate reports whether the geometry describes a valid transposed
// convolution.
func (g ConvTransposeGeom) Validate() error {
	for a := range 3 {
		if g.In[a] < 1 || g.Kernel[a] < 1 || g.Stride[a] < 1 || g.Pad[a] < 0 {
			return fmt.Errorf("transposed conv geometry: axis %d: input %d, kernel %d, stride %d, pad %d out of range",
				a, g.In[a], g.Kernel[a], g.Stride[a], g.Pad[a])
		}
		if g.Out()[a] < 1 {
			return fmt.Errorf("transposed conv geometry: axis %d: empty output", a)
		}
	}
	if err := g.Conv().Validate(); err != nil {
		return fmt.Errorf("transposed conv geometry: %w", err)
	}
	return nil
}

// InLen is the length of the input tensor: N·InC·D·H·W.
func (g ConvTransposeGeom) InLen() int { return g.N * g.InC * prod(g.In) }

// OutLen is the length of the output tensor.
func (g ConvTransposeGeom) OutLen() int { return g.N * g.OutC * prod(g.Out()) }

// WeightLen is the length of the weight tensor (InC, OutC, kd, kh, kw).
func (g ConvTransposeGeom) WeightLen() int { return g.InC * g.OutC * prod(g.Kernel) }

// FLOPs is the multiply-add count ×2 of one forward pass.
func (g ConvTransposeGeom) FLOPs() float64 { return g.Conv().FLOPs() }

func (g *ConvTransposeGeom) mustValid() {
	if err := g.Validate(); err != nil {
		panic("kernels: " + err.Error())
	}
}

// ConvTransposeForward computes y = convT(x, w) + bias. x has InLen elements,
// w WeightLen, bias OutC (or nil), y OutLen.
func ConvTransposeForward[T Float](ws *Workspace, g ConvTransposeGeom, x, w, bias, y []T) {
	g.mustValid()
	if bias != nil {
		mustLen("transposed conv bias", bias, g.OutC)
	}
	ConvBackwardData(ws, g.Conv(), x, w, y)
	if bias != nil {
		addChannelBias(y, bias, g.N, g.OutC, prod(g.Out()))
	}
}

// ConvTransposeBackwardData computes dx, the input gradient, from dy.
func ConvTransposeBackwardData[T Float](ws *Workspace, g ConvTransposeGeom, dy, w, dx []T) {
	g.mustValid()
	ConvForward(ws, g.Conv(), dy, w, nil, dx)
}

// ConvTransposeBackwardFilter computes dw and dbias (nil to skip), summed over
// the batch.
func ConvTransposeBackwardFilter[T Float](ws *Workspace, g ConvTransposeGeom, x, dy, dw, dbias []T) {
	g.mustValid()
	if dbias != nil {
		mustLen("transposed conv bias gradient", dbias, g.OutC)
	}
	// For the adjoint convolution x plays the output gradient and dy the input.
	ConvBackwardFilter(ws, g.Conv(), dy, x, dw, nil)
	if dbias != nil {
		channelSums(dy, g.N, g.OutC, prod(g.Out()), dbias)
	}
}
