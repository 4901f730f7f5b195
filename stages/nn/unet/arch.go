package unet

import (
	"encoding/json"
	"fmt"
)

// Upstream class paths this package implements; anything else in a plans
// architecture block is rejected rather than silently approximated.
const (
	plainConvUNet  = "dynamic_network_architectures.architectures.unet.PlainConvUNet"
	conv2d         = "torch.nn.modules.conv.Conv2d"
	conv3d         = "torch.nn.modules.conv.Conv3d"
	instanceNorm2d = "torch.nn.modules.instancenorm.InstanceNorm2d"
	instanceNorm3d = "torch.nn.modules.instancenorm.InstanceNorm3d"
	leakyReLU      = "torch.nn.LeakyReLU"
)

// Arch is the topology of a PlainConvUNet, as given by the arch_kwargs of a
// plans configuration's "architecture" block (spec §5, §9).
type Arch struct {
	Dim                  int     // 2 or 3 spatial dimensions
	FeaturesPerStage     []int   // output channels of each encoder stage
	KernelSizes          [][]int // per stage, Dim entries
	Strides              [][]int // per stage, Dim entries; Strides[0] is all ones
	NConvPerStage        []int   // conv blocks per encoder stage
	NConvPerStageDecoder []int   // conv blocks per decoder stage (NStages()-1 entries)
	ConvBias             bool    // conv and transposed-conv layers carry a bias
	NormEps              float64 // instance-norm epsilon (1e-5 upstream)
	NegativeSlope        float64 // LeakyReLU slope (0.01 upstream)
}

// NStages returns the number of encoder stages.
func (a Arch) NStages() int { return len(a.FeaturesPerStage) }

type archJSON struct {
	NetworkClassName string    `json:"network_class_name"`
	ArchKwargs       *argsJSON `json:"arch_kwargs"`
}

type argsJSON struct {
	NStages              int            `json:"n_stages"`
	FeaturesPerStage     []int          `json:"features_per_stage"`
	ConvOp               string         `json:"conv_op"`
	KernelSizes          [][]int        `json:"kernel_sizes"`
	Strides              [][]int        `json:"strides"`
	NConvPerStage        []int          `json:"n_conv_per_stage"`
	NConvPerStageDecoder []int          `json:"n_conv_per_stage_decoder"`
	ConvBias             bool           `json:"conv_bias"`
	NormOp               string         `json:"norm_op"`
	NormOpKwargs         map[string]any `json:"norm_op_kwargs"`
	DropoutOp            *string        `json:"dropout_op"`
	Nonlin               string         `json:"nonlin"`
	NonlinKwargs         map[string]any `json:"nonlin_kwargs"`
}

// ParseArchitecture decodes a plans configuration's "architecture" object
// (the JSON value of the key, i.e. {"network_class_name": ..., "arch_kwargs": ...})
// and validates that it describes a PlainConvUNet this package can build.
func ParseArchitecture(raw []byte) (Arch, error) {
	var aj archJSON
	if err := json.Unmarshal(raw, &aj); err != nil {
		return Arch{}, fmt.Errorf("decode architecture: %w", err)
	}
	if aj.NetworkClassName != plainConvUNet {
		return Arch{}, fmt.Errorf("architecture: network_class_name %q is not supported (only %s)", aj.NetworkClassName, plainConvUNet)
	}
	k := aj.ArchKwargs
	if k == nil {
		return Arch{}, fmt.Errorf("architecture: missing arch_kwargs")
	}
	a := Arch{
		FeaturesPerStage:     k.FeaturesPerStage,
		KernelSizes:          k.KernelSizes,
		Strides:              k.Strides,
		NConvPerStage:        k.NConvPerStage,
		NConvPerStageDecoder: k.NConvPerStageDecoder,
		ConvBias:             k.ConvBias,
		NormEps:              1e-5,
		NegativeSlope:        0.01,
	}
	switch {
	case k.ConvOp == conv2d && k.NormOp == instanceNorm2d:
		a.Dim = 2
	case k.ConvOp == conv3d && k.NormOp == instanceNorm3d:
		a.Dim = 3
	default:
		return Arch{}, fmt.Errorf("architecture: conv_op %q with norm_op %q is not supported (Conv2d+InstanceNorm2d or Conv3d+InstanceNorm3d)", k.ConvOp, k.NormOp)
	}
	if k.DropoutOp != nil {
		return Arch{}, fmt.Errorf("architecture: dropout_op %q is not supported (must be null)", *k.DropoutOp)
	}
	if k.Nonlin != leakyReLU {
		return Arch{}, fmt.Errorf("architecture: nonlin %q is not supported (only %s)", k.Nonlin, leakyReLU)
	}
	if v, ok := k.NonlinKwargs["negative_slope"]; ok {
		f, ok := v.(float64)
		if !ok {
			return Arch{}, fmt.Errorf("architecture: nonlin_kwargs.negative_slope is %v, want a number", v)
		}
		a.NegativeSlope = f
	}
	if v, ok := k.NormOpKwargs["eps"]; ok {
		f, ok := v.(float64)
		if !ok {
			return Arch{}, fmt.Errorf("architecture: norm_op_kwargs.eps is %v, want a number", v)
		}
		a.NormEps = f
	}
	if v, ok := k.NormOpKwargs["affine"]; ok && v != true {
		return Arch{}, fmt.Errorf("architecture: norm_op_kwargs.affine is %v; only affine instance norm is supported", v)
	}
	if k.NStages != len(a.FeaturesPerStage) {
		return Arch{}, fmt.Errorf("architecture: n_stages %d but %d features_per_stage", k.NStages, len(a.FeaturesPerStage))
	}
	if err := a.Validate(); err != nil {
		return Arch{}, fmt.Errorf("architecture: %w", err)
	}
	return a, nil
}

// Validate checks that the per-stage lists agree with each other.
func (a Arch) Validate() error {
	n := a.NStages()
	if a.Dim != 2 && a.Dim != 3 {
		return fmt.Errorf("dimension %d, want 2 or 3", a.Dim)
	}
	if n < 2 {
		return fmt.Errorf("%d stages, want at least 2", n)
	}
	if len(a.KernelSizes) != n || len(a.Strides) != n || len(a.NConvPerStage) != n {
		return fmt.Errorf("%d stages but %d kernel_sizes, %d strides, %d n_conv_per_stage",
			n, len(a.KernelSizes), len(a.Strides), len(a.NConvPerStage))
	}
	if len(a.NConvPerStageDecoder) != n-1 {
		return fmt.Errorf("%d stages but %d n_conv_per_stage_decoder, want %d", n, len(a.NConvPerStageDecoder), n-1)
	}
	for s := 0; s < n; s++ {
		if a.FeaturesPerStage[s] < 1 {
			return fmt.Errorf("stage %d: %d features", s, a.FeaturesPerStage[s])
		}
		if len(a.KernelSizes[s]) != a.Dim || len(a.Strides[s]) != a.Dim {
			return fmt.Errorf("stage %d: kernel %v / stride %v, want %d entries", s, a.KernelSizes[s], a.Strides[s], a.Dim)
		}
		for i := 0; i < a.Dim; i++ {
			if k := a.KernelSizes[s][i]; k < 1 || k%2 == 0 {
				return fmt.Errorf("stage %d: kernel size %v must be odd and positive", s, a.KernelSizes[s])
			}
			if a.Strides[s][i] < 1 {
				return fmt.Errorf("stage %d: stride %v must be positive", s, a.Strides[s])
			}
		}
		if a.NConvPerStage[s] < 1 {
			return fmt.Errorf("stage %d: %d convs", s, a.NConvPerStage[s])
		}
		if s < n-1 && a.NConvPerStageDecoder[s] < 1 {
			return fmt.Errorf("decoder stage %d: %d convs", s, a.NConvPerStageDecoder[s])
		}
	}
	return nil
}

// PatchMultiple returns, per axis, the factor every input size must be a
// multiple of: the product of all strides.
func (a Arch) PatchMultiple() []int {
	m := make([]int, a.Dim)
	for i := range m {
		m[i] = 1
		for _, st := range a.Strides {
			m[i] *= st[i]
		}
	}
	return m
}
