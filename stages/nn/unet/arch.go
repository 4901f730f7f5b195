package unet

import (
	"fmt"

	"github.com/nnrunner/nnrunner/stages/plans"
	"github.com/nnrunner/nnrunner/stages/pyjson"
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

// ArchFromPlans converts a plans configuration's architecture block and
// validates that it describes a PlainConvUNet this package can build:
// Conv2d/Conv3d with the matching InstanceNorm (affine), LeakyReLU, no dropout.
func ArchFromPlans(p plans.Architecture) (Arch, error) {
	if p.NetworkClassName != plans.PlainConvUNetClass {
		return Arch{}, fmt.Errorf("architecture: network_class_name %q is not supported (only %s)", p.NetworkClassName, plans.PlainConvUNetClass)
	}
	a := Arch{
		FeaturesPerStage:     p.FeaturesPerStage,
		KernelSizes:          p.KernelSizes,
		Strides:              p.Strides,
		NConvPerStage:        p.NConvPerStage,
		NConvPerStageDecoder: p.NConvPerStageDecoder,
		ConvBias:             p.ConvBias,
		NormEps:              1e-5,
		NegativeSlope:        0.01,
	}
	switch {
	case p.ConvOp == plans.Conv2dOp && p.NormOp == plans.InstanceNorm2dOp:
		a.Dim = 2
	case p.ConvOp == plans.Conv3dOp && p.NormOp == plans.InstanceNorm3dOp:
		a.Dim = 3
	default:
		return Arch{}, fmt.Errorf("architecture: conv_op %q with norm_op %q is not supported (Conv2d+InstanceNorm2d or Conv3d+InstanceNorm3d)", p.ConvOp, p.NormOp)
	}
	if p.DropoutOp != "" {
		return Arch{}, fmt.Errorf("architecture: dropout_op %q is not supported (must be null)", p.DropoutOp)
	}
	if p.Nonlin != plans.LeakyReLUNonlin {
		return Arch{}, fmt.Errorf("architecture: nonlin %q is not supported (only %s)", p.Nonlin, plans.LeakyReLUNonlin)
	}
	var err error
	if a.NegativeSlope, err = kwNumber(p.NonlinKwargs, "nonlin_kwargs", "negative_slope", a.NegativeSlope); err != nil {
		return Arch{}, err
	}
	if a.NormEps, err = kwNumber(p.NormOpKwargs, "norm_op_kwargs", "eps", a.NormEps); err != nil {
		return Arch{}, err
	}
	if p.NormOpKwargs != nil {
		if v, ok := p.NormOpKwargs.Get("affine"); ok && v != true {
			return Arch{}, fmt.Errorf("architecture: norm_op_kwargs.affine is %v; only affine instance norm is supported", v)
		}
	}
	if p.NStages != len(a.FeaturesPerStage) {
		return Arch{}, fmt.Errorf("architecture: n_stages %d but %d features_per_stage", p.NStages, len(a.FeaturesPerStage))
	}
	if err := a.Validate(); err != nil {
		return Arch{}, fmt.Errorf("architecture: %w", err)
	}
	return a, nil
}

// kwNumber reads a numeric keyword argument, or returns def when absent.
func kwNumber(o *pyjson.Object, where, key string, def float64) (float64, error) {
	if o == nil {
		return def, nil
	}
	v, ok := o.Get(key)
	if !ok {
		return def, nil
	}
	switch x := v.(type) {
	case float64:
		return x, nil
	case int64:
		return float64(x), nil
	}
	return 0, fmt.Errorf("architecture: %s.%s is %v, want a number", where, key, v)
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

// ConfigFromPlans returns the network configuration of a plans
// configuration for a dataset with the given number of image channels and
// segmentation classes (labels incl. background).
func ConfigFromPlans(c *plans.Configuration, inputChannels, numClasses int) (Config, error) {
	a, err := ArchFromPlans(c.Architecture)
	if err != nil {
		return Config{}, fmt.Errorf("configuration %s: %w", c.Name, err)
	}
	cfg := Config{Arch: a, InputChannels: inputChannels, NumClasses: numClasses}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("configuration %s: %w", c.Name, err)
	}
	return cfg, nil
}
