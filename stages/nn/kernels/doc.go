// Package kernels holds the numeric kernels of the nnU-Net network: 3-D and
// 2-D convolution and transposed convolution (forward, backward-data,
// backward-filter), instance normalisation, LeakyReLU, channel concat/split and
// the fused softmax + cross-entropy + soft Dice loss.
//
// Conventions:
//   - Tensors are flat, C-order slices in NCDHW layout (batch, channel, depth,
//     height, width). A 2-D tensor NCHW is the same data with depth 1: use
//     In[0] = 1, Kernel[0] = 1, Stride[0] = 1, Pad[0] = 0 in the geometries.
//   - Convolution weights use PyTorch's layouts: Conv (out, in, kd, kh, kw),
//     ConvTranspose (in, out, kd, kh, kw), so upstream checkpoints map 1:1.
//   - Every kernel is generic over float32 (training) and float64 (gradient
//     checks) and overwrites its outputs.
//   - Work is spread over runtime.GOMAXPROCS goroutines with a fixed split:
//     every output element and every reduction is computed in an order that
//     does not depend on scheduling, so equal inputs give equal bits.
//   - Slice lengths are the caller's contract: a mismatch panics with a message
//     naming the argument (as gonum's BLAS does). Geometries have a Validate
//     method to check user-derived shapes up front.
//
// Float32 convolutions on amd64 CPUs with AVX2 and FMA run direct kernels in
// assembly over a zero-padded (for strides, polyphase) copy of the input
// (direct.go) when their output channels are a multiple of 4 (input channels
// for a strided backward-data) and, with OpenBLAS, a volume large enough for
// the direct kernels to win; everything else is vol2col + GEMM. On the same
// CPUs the float32 instance-norm passes (norm.go) run AVX2 loops whose
// element-wise results round exactly as the Go code.
//
// The package does not import gorgonia; GEMMs go through stages/nn/blas.
package kernels

// Float is the element type set of the kernels.
type Float interface {
	float32 | float64
}
