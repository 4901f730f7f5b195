package plans

import (
	"fmt"

	"github.com/nnrunner/nnrunner/stages/pyjson"
)

// Class paths written by upstream's default planner.
const (
	PlainConvUNetClass = "dynamic_network_architectures.architectures.unet.PlainConvUNet"
	Conv2dOp           = "torch.nn.modules.conv.Conv2d"
	Conv3dOp           = "torch.nn.modules.conv.Conv3d"
	InstanceNorm2dOp   = "torch.nn.modules.instancenorm.InstanceNorm2d"
	InstanceNorm3dOp   = "torch.nn.modules.instancenorm.InstanceNorm3d"
	LeakyReLUNonlin    = "torch.nn.LeakyReLU"
)

// Architecture is a configuration's "architecture" block: the network class
// and the keyword arguments it is built with (spec §5, §9).
type Architecture struct {
	NetworkClassName     string
	NStages              int
	FeaturesPerStage     []int
	ConvOp               string
	KernelSizes          [][]int
	Strides              [][]int
	NConvPerStage        []int
	NConvPerStageDecoder []int
	ConvBias             bool
	NormOp               string
	NormOpKwargs         *pyjson.Object // e.g. {"eps": 1e-05, "affine": true}
	DropoutOp            string         // "" for null
	DropoutOpKwargs      *pyjson.Object // nil for null
	Nonlin               string
	NonlinKwargs         *pyjson.Object // e.g. {"inplace": true}
	KwRequiresImport     []string
}

// NewPlainConvUNet returns the architecture block upstream's default
// planner writes for a PlainConvUNet with the given topology: two
// convolutions per encoder and decoder stage, instance norm (eps 1e-5,
// affine), LeakyReLU, no dropout. dim (2 or 3) selects the 2-D or 3-D ops.
func NewPlainConvUNet(dim int, features []int, kernels, strides [][]int) Architecture {
	conv, norm := Conv3dOp, InstanceNorm3dOp
	if dim == 2 {
		conv, norm = Conv2dOp, InstanceNorm2dOp
	}
	n := len(strides)
	enc := make([]int, n)
	for i := range enc {
		enc[i] = 2
	}
	dec := make([]int, max(n-1, 0))
	for i := range dec {
		dec[i] = 2
	}
	normKw := pyjson.NewObject()
	normKw.Set("eps", 1e-05)
	normKw.Set("affine", true)
	nonlinKw := pyjson.NewObject()
	nonlinKw.Set("inplace", true)
	return Architecture{
		NetworkClassName:     PlainConvUNetClass,
		NStages:              n,
		FeaturesPerStage:     features,
		ConvOp:               conv,
		KernelSizes:          kernels,
		Strides:              strides,
		NConvPerStage:        enc,
		NConvPerStageDecoder: dec,
		ConvBias:             true,
		NormOp:               norm,
		NormOpKwargs:         normKw,
		Nonlin:               LeakyReLUNonlin,
		NonlinKwargs:         nonlinKw,
		KwRequiresImport:     []string{"conv_op", "norm_op", "dropout_op", "nonlin"},
	}
}

// Dim returns the number of spatial dimensions (2 or 3), from the strides.
func (a *Architecture) Dim() int {
	if len(a.Strides) == 0 {
		return 0
	}
	return len(a.Strides[0])
}

// Object renders the block in upstream's key order.
func (a *Architecture) Object() *pyjson.Object {
	kw := pyjson.NewObject()
	kw.Set("n_stages", int64(a.NStages))
	kw.Set("features_per_stage", intsToAny(a.FeaturesPerStage))
	kw.Set("conv_op", a.ConvOp)
	kw.Set("kernel_sizes", intListsToAny(a.KernelSizes))
	kw.Set("strides", intListsToAny(a.Strides))
	kw.Set("n_conv_per_stage", intsToAny(a.NConvPerStage))
	kw.Set("n_conv_per_stage_decoder", intsToAny(a.NConvPerStageDecoder))
	kw.Set("conv_bias", a.ConvBias)
	kw.Set("norm_op", a.NormOp)
	kw.Set("norm_op_kwargs", objOrNil(a.NormOpKwargs))
	kw.Set("dropout_op", strOrNil(a.DropoutOp))
	kw.Set("dropout_op_kwargs", objOrNil(a.DropoutOpKwargs))
	kw.Set("nonlin", a.Nonlin)
	kw.Set("nonlin_kwargs", objOrNil(a.NonlinKwargs))
	o := pyjson.NewObject()
	o.Set("network_class_name", a.NetworkClassName)
	o.Set("arch_kwargs", kw)
	req := make([]any, len(a.KwRequiresImport))
	for i, s := range a.KwRequiresImport {
		req[i] = s
	}
	o.Set("_kw_requires_import", req)
	return o
}

func objOrNil(o *pyjson.Object) any {
	if o == nil {
		return nil
	}
	return o.Clone()
}

func strOrNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// parseArchitecture reads an "architecture" block.
func parseArchitecture(o *pyjson.Object, where string) (Architecture, error) {
	f := &fields{o: o, where: where}
	a := Architecture{NetworkClassName: f.str("network_class_name")}
	kw := f.object("arch_kwargs")
	if f.err != nil {
		return a, f.err
	}
	if o.Has("_kw_requires_import") {
		a.KwRequiresImport = f.strs("_kw_requires_import")
	}
	k := &fields{o: kw, where: where + ".arch_kwargs"}
	a.NStages = k.integer("n_stages")
	a.FeaturesPerStage = k.ints("features_per_stage")
	a.ConvOp = k.str("conv_op")
	a.KernelSizes = k.intLists("kernel_sizes")
	a.Strides = k.intLists("strides")
	a.NConvPerStage = k.ints("n_conv_per_stage")
	a.NConvPerStageDecoder = k.ints("n_conv_per_stage_decoder")
	a.ConvBias = k.boolean("conv_bias")
	a.NormOp = k.optStr("norm_op")
	a.NormOpKwargs = k.optObject("norm_op_kwargs")
	a.DropoutOp = k.optStr("dropout_op")
	a.DropoutOpKwargs = k.optObject("dropout_op_kwargs")
	a.Nonlin = k.optStr("nonlin")
	a.NonlinKwargs = k.optObject("nonlin_kwargs")
	if k.err != nil {
		return a, k.err
	}
	return a, a.validate(where)
}

func (a *Architecture) validate(where string) error {
	n := a.NStages
	switch {
	case n < 1:
		return fmt.Errorf("%s: n_stages is %d, want at least 1", where, n)
	case len(a.FeaturesPerStage) != n, len(a.KernelSizes) != n, len(a.Strides) != n, len(a.NConvPerStage) != n:
		return fmt.Errorf("%s: features_per_stage, kernel_sizes, strides and n_conv_per_stage must each have n_stages=%d entries (have %d, %d, %d, %d)",
			where, n, len(a.FeaturesPerStage), len(a.KernelSizes), len(a.Strides), len(a.NConvPerStage))
	case len(a.NConvPerStageDecoder) != n-1:
		return fmt.Errorf("%s: n_conv_per_stage_decoder has %d entries, want n_stages-1=%d", where, len(a.NConvPerStageDecoder), n-1)
	}
	dim := len(a.Strides[0])
	if dim != 2 && dim != 3 {
		return fmt.Errorf("%s: strides have %d axes, want 2 or 3", where, dim)
	}
	for i := range n {
		if len(a.Strides[i]) != dim || len(a.KernelSizes[i]) != dim {
			return fmt.Errorf("%s: stage %d: strides and kernel_sizes must have %d axes", where, i, dim)
		}
	}
	return nil
}
