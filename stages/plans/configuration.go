package plans

import (
	"fmt"

	"github.com/nnrunner/nnrunner/stages/pyjson"
)

// DefaultResamplingFn is the resampling function name upstream writes for
// data, segmentations and probabilities.
const DefaultResamplingFn = "resample_data_or_seg_to_shape"

// Resampling is one resampling_fn_* entry with its keyword arguments.
type Resampling struct {
	Fn             string
	IsSeg          bool
	Order          int
	OrderZ         int
	ForceSeparateZ *bool // nil for null: decide from the spacing
	// SeparateZAnisotropyThreshold is the optional
	// separate_z_anisotropy_threshold keyword; nil when absent (3).
	SeparateZAnisotropyThreshold *float64
}

// DefaultResampling returns upstream's default settings for data (order 3),
// segmentations (order 1, is_seg) and probabilities (order 1); spec §4.9.
func DefaultResampling() (data, seg, probabilities Resampling) {
	return Resampling{Fn: DefaultResamplingFn, Order: 3},
		Resampling{Fn: DefaultResamplingFn, IsSeg: true, Order: 1},
		Resampling{Fn: DefaultResamplingFn, Order: 1}
}

func (r Resampling) kwargs() *pyjson.Object {
	o := pyjson.NewObject()
	o.Set("is_seg", r.IsSeg)
	o.Set("order", int64(r.Order))
	o.Set("order_z", int64(r.OrderZ))
	if r.ForceSeparateZ == nil {
		o.Set("force_separate_z", nil)
	} else {
		o.Set("force_separate_z", *r.ForceSeparateZ)
	}
	if r.SeparateZAnisotropyThreshold != nil {
		o.Set("separate_z_anisotropy_threshold", *r.SeparateZAnisotropyThreshold)
	}
	return o
}

func parseResampling(cfg *fields, fnKey, kwKey string) Resampling {
	r := Resampling{Fn: cfg.str(fnKey)}
	kw := cfg.object(kwKey)
	if cfg.err != nil {
		return r
	}
	k := &fields{o: kw, where: cfg.where + "." + kwKey}
	for key := range kw.All() {
		switch key {
		case "is_seg", "order", "order_z", "force_separate_z", "separate_z_anisotropy_threshold":
		default:
			k.fail(key, "unknown resampling keyword (known: is_seg, order, order_z, force_separate_z, separate_z_anisotropy_threshold)")
		}
	}
	r.IsSeg = k.boolean("is_seg")
	r.Order = k.integer("order")
	r.OrderZ = k.integer("order_z")
	if v, ok := kw.Get("force_separate_z"); ok && v != nil {
		b := k.boolean("force_separate_z")
		r.ForceSeparateZ = &b
	}
	if v, ok := kw.Get("separate_z_anisotropy_threshold"); ok && v != nil {
		switch x := v.(type) {
		case float64:
			r.SeparateZAnisotropyThreshold = &x
		case int64:
			t := float64(x)
			r.SeparateZAnisotropyThreshold = &t
		default:
			k.fail("separate_z_anisotropy_threshold", "want a number, got %s", pyjson.TypeName(v))
		}
	}
	if k.err != nil && cfg.err == nil {
		cfg.err = k.err
	}
	return r
}

// Configuration is one resolved configuration of a plans file (spec §5):
// inheritance applied, every field typed.
type Configuration struct {
	Name             string // e.g. "3d_fullres"; not written to JSON
	DataIdentifier   string
	PreprocessorName string
	BatchSize        int
	PatchSize        []int
	// MedianImageSizeInVoxels is informational; upstream writes floats for
	// 3d_fullres and 2d and rounded integers for 3d_lowres.
	MedianImageSizeInVoxels []float64
	// MedianImageSizeIsInt writes MedianImageSizeInVoxels as integers.
	MedianImageSizeIsInt    bool
	Spacing                 []float64 // target spacing, transposed order
	NormalizationSchemes    []string  // one per input channel
	UseMaskForNorm          []bool    // one per input channel
	ResamplingData          Resampling
	ResamplingSeg           Resampling
	ResamplingProbabilities Resampling
	Architecture            Architecture
	BatchDice               bool
	NextStage               string // "" when absent
	PreviousStage           string // "" when absent
}

// Dim returns the number of spatial dimensions of the configuration.
func (c *Configuration) Dim() int {
	return len(c.PatchSize)
}

// Object renders the configuration in upstream's key order (spec §4.5 step
// 9): batch_dice follows the architecture, then next_stage/previous_stage
// when set.
func (c *Configuration) Object() *pyjson.Object {
	o := pyjson.NewObject()
	o.Set("data_identifier", c.DataIdentifier)
	o.Set("preprocessor_name", c.PreprocessorName)
	o.Set("batch_size", int64(c.BatchSize))
	o.Set("patch_size", intsToAny(c.PatchSize))
	if c.MedianImageSizeIsInt {
		m := make([]any, len(c.MedianImageSizeInVoxels))
		for i, x := range c.MedianImageSizeInVoxels {
			m[i] = int64(x)
		}
		o.Set("median_image_size_in_voxels", m)
	} else {
		o.Set("median_image_size_in_voxels", floatsToAny(c.MedianImageSizeInVoxels))
	}
	o.Set("spacing", floatsToAny(c.Spacing))
	schemes := make([]any, len(c.NormalizationSchemes))
	for i, s := range c.NormalizationSchemes {
		schemes[i] = s
	}
	o.Set("normalization_schemes", schemes)
	masks := make([]any, len(c.UseMaskForNorm))
	for i, b := range c.UseMaskForNorm {
		masks[i] = b
	}
	o.Set("use_mask_for_norm", masks)
	o.Set("resampling_fn_data", c.ResamplingData.Fn)
	o.Set("resampling_fn_seg", c.ResamplingSeg.Fn)
	o.Set("resampling_fn_data_kwargs", c.ResamplingData.kwargs())
	o.Set("resampling_fn_seg_kwargs", c.ResamplingSeg.kwargs())
	o.Set("resampling_fn_probabilities", c.ResamplingProbabilities.Fn)
	o.Set("resampling_fn_probabilities_kwargs", c.ResamplingProbabilities.kwargs())
	o.Set("architecture", c.Architecture.Object())
	o.Set("batch_dice", c.BatchDice)
	if c.NextStage != "" {
		o.Set("next_stage", c.NextStage)
	}
	if c.PreviousStage != "" {
		o.Set("previous_stage", c.PreviousStage)
	}
	return o
}

// parseConfiguration reads a resolved configuration object.
func parseConfiguration(name string, o *pyjson.Object, where string) (*Configuration, error) {
	if !o.Has("architecture") && o.Has("UNet_class_name") {
		if err := convertOldFormat(o, where); err != nil {
			return nil, err
		}
	}
	f := &fields{o: o, where: where}
	c := &Configuration{
		Name:             name,
		DataIdentifier:   f.str("data_identifier"),
		PreprocessorName: f.str("preprocessor_name"),
		BatchSize:        f.integer("batch_size"),
		PatchSize:        f.ints("patch_size"),
	}
	c.MedianImageSizeInVoxels, c.MedianImageSizeIsInt = f.floats("median_image_size_in_voxels")
	c.Spacing, _ = f.floats("spacing")
	c.NormalizationSchemes = f.strs("normalization_schemes")
	c.UseMaskForNorm = f.bools("use_mask_for_norm")
	c.ResamplingData = parseResampling(f, "resampling_fn_data", "resampling_fn_data_kwargs")
	c.ResamplingSeg = parseResampling(f, "resampling_fn_seg", "resampling_fn_seg_kwargs")
	c.ResamplingProbabilities = parseResampling(f, "resampling_fn_probabilities", "resampling_fn_probabilities_kwargs")
	arch := f.object("architecture")
	c.BatchDice = f.boolean("batch_dice")
	c.NextStage = f.optStr("next_stage")
	c.PreviousStage = f.optStr("previous_stage")
	if f.err != nil {
		return nil, f.err
	}
	var err error
	if c.Architecture, err = parseArchitecture(arch, where+".architecture"); err != nil {
		return nil, err
	}
	dim := len(c.PatchSize)
	switch {
	case dim != 2 && dim != 3:
		return nil, fmt.Errorf("%s: patch_size has %d axes, want 2 or 3", where, dim)
	case len(c.Spacing) != dim:
		return nil, fmt.Errorf("%s: spacing has %d axes but patch_size has %d", where, len(c.Spacing), dim)
	case c.Architecture.Dim() != dim:
		return nil, fmt.Errorf("%s: architecture strides have %d axes but patch_size has %d", where, c.Architecture.Dim(), dim)
	case len(c.NormalizationSchemes) != len(c.UseMaskForNorm):
		return nil, fmt.Errorf("%s: normalization_schemes has %d entries but use_mask_for_norm has %d", where, len(c.NormalizationSchemes), len(c.UseMaskForNorm))
	case c.BatchSize < 1:
		return nil, fmt.Errorf("%s: batch_size is %d, want at least 1", where, c.BatchSize)
	}
	for i, s := range c.Spacing {
		if !(s > 0) {
			return nil, fmt.Errorf("%s: spacing[%d] is %v, want > 0", where, i, s)
		}
	}
	return c, nil
}

// Keys of the pre-2.3 configuration format that upstream's
// ConfigurationManager converts into an architecture block.
var oldFormatKeys = []string{"UNet_class_name", "UNet_base_num_features", "n_conv_per_stage_encoder",
	"n_conv_per_stage_decoder", "num_pool_per_axis", "pool_op_kernel_sizes", "conv_kernel_sizes", "unet_max_num_features"}

// convertOldFormat rewrites an old-format configuration (o, a resolved
// copy) in place as upstream's ConfigurationManager does: the network
// keys become an architecture block. Only PlainConvUNet is supported.
func convertOldFormat(o *pyjson.Object, where string) error {
	f := &fields{o: o, where: where}
	class := f.str("UNet_class_name")
	if f.err == nil && class != "PlainConvUNet" {
		return fmt.Errorf("%s: old-format plans with UNet_class_name %q are not supported (only PlainConvUNet); re-plan the dataset with the plan stage", where, class)
	}
	base := f.integer("UNet_base_num_features")
	maxFeat := f.integer("unet_max_num_features")
	enc := f.ints("n_conv_per_stage_encoder")
	dec := f.ints("n_conv_per_stage_decoder")
	kernels := f.intLists("conv_kernel_sizes")
	strides := f.intLists("pool_op_kernel_sizes")
	patch := f.ints("patch_size")
	if f.err != nil {
		return fmt.Errorf("old-format plans: %w", f.err)
	}
	features := make([]int, len(enc))
	for i := range features {
		features[i] = min(base<<i, maxFeat)
	}
	a := NewPlainConvUNet(len(patch), features, kernels, strides)
	a.NStages = len(enc)
	a.NConvPerStage = enc
	a.NConvPerStageDecoder = dec
	for _, k := range oldFormatKeys {
		o.Delete(k)
	}
	o.Set("architecture", a.Object())
	return nil
}
