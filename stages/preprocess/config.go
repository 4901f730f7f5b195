package preprocess

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nnrunner/nnrunner/stages/dataset"
	"github.com/nnrunner/nnrunner/stages/normalize"
	"github.com/nnrunner/nnrunner/stages/plans"
	"github.com/nnrunner/nnrunner/stages/resample"
)

// Config is everything preprocessing needs from one configuration of a
// plans file (and, for training cases, the dataset's labels).
type Config struct {
	// Name is the configuration name, e.g. "3d_fullres".
	Name string
	// DataIdentifier names the output folder of the configuration.
	DataIdentifier string
	// TransposeForward is applied to the spatial axes first;
	// TransposeBackward undoes it.
	TransposeForward, TransposeBackward [3]int
	// Spacing is the configuration's target spacing in transposed order: 3
	// entries, or 2 for a 2-D configuration (the first axis is then kept).
	Spacing []float64
	// Channels holds one normalization per input channel.
	Channels []normalize.Channel
	// Data, Seg and Probabilities are the resampling settings (Workers is
	// set per call).
	Data, Seg, Probabilities resample.Options
	// Classes are the label sets whose voxels are sampled into
	// class_locations, with their property keys: a label ("1"), a region
	// ("(1, 2)") or the ignore-label tuple. Empty at inference.
	Classes   [][]int
	ClassKeys []string
}

// NewConfig resolves configuration name of p. labels may be nil when no
// class locations are needed (inference).
func NewConfig(p *plans.Plans, name string, labels *dataset.Labels) (*Config, error) {
	if !slices.Contains(p.ConfigurationNames(), name) {
		return nil, fmt.Errorf("configuration %q is not in plans %q (available: %s)", name, p.PlansName(), strings.Join(p.ConfigurationNames(), ", "))
	}
	cfg, err := p.Configuration(name)
	if err != nil {
		return nil, err
	}
	c := &Config{Name: name, DataIdentifier: cfg.DataIdentifier, Spacing: cfg.Spacing}
	tf, tb := p.TransposeForward(), p.TransposeBackward()
	if len(tf) != 3 || len(tb) != 3 {
		return nil, fmt.Errorf("plans %q: transpose_forward %v / transpose_backward %v: want 3 axes", p.PlansName(), tf, tb)
	}
	copy(c.TransposeForward[:], tf)
	copy(c.TransposeBackward[:], tb)
	if len(cfg.Spacing) != 2 && len(cfg.Spacing) != 3 {
		return nil, fmt.Errorf("configuration %q: spacing %v: want 2 or 3 entries", name, cfg.Spacing)
	}
	if len(cfg.UseMaskForNorm) != len(cfg.NormalizationSchemes) {
		return nil, fmt.Errorf("configuration %q: %d normalization schemes but %d use_mask_for_norm entries", name, len(cfg.NormalizationSchemes), len(cfg.UseMaskForNorm))
	}
	var intensity []plans.IntensityProperties
	for i, s := range cfg.NormalizationSchemes {
		ch := normalize.Channel{Scheme: s, UseMask: cfg.UseMaskForNorm[i]}
		if s == normalize.CT {
			if intensity == nil {
				if intensity, err = p.ForegroundIntensityProperties(); err != nil {
					return nil, err
				}
			}
			if i >= len(intensity) {
				return nil, fmt.Errorf("configuration %q: channel %d uses %s but the plans have intensity properties for %d channels", name, i, s, len(intensity))
			}
			ip := intensity[i]
			ch.Intensity = &normalize.Intensity{Mean: ip.Mean, Std: ip.Std, Percentile00_5: ip.Percentile00_5, Percentile99_5: ip.Percentile99_5}
		}
		if err := ch.Check(); err != nil {
			return nil, fmt.Errorf("plans %q configuration %q channel %d: %w", p.PlansName(), name, i, err)
		}
		c.Channels = append(c.Channels, ch)
	}
	for _, r := range []struct {
		dst  *resample.Options
		src  plans.Resampling
		what string
	}{{&c.Data, cfg.ResamplingData, "resampling_fn_data"}, {&c.Seg, cfg.ResamplingSeg, "resampling_fn_seg"}, {&c.Probabilities, cfg.ResamplingProbabilities, "resampling_fn_probabilities"}} {
		if r.src.Fn != plans.DefaultResamplingFn {
			return nil, fmt.Errorf("configuration %q: %s %q is not supported (only %s)", name, r.what, r.src.Fn, plans.DefaultResamplingFn)
		}
		*r.dst = resample.Options{Order: r.src.Order, OrderZ: r.src.OrderZ, ForceSeparateZ: r.src.ForceSeparateZ}
		if r.src.SeparateZAnisotropyThreshold != nil {
			r.dst.Threshold = *r.src.SeparateZAnisotropyThreshold
		}
	}
	if labels != nil {
		c.Classes, c.ClassKeys = sampledClasses(labels)
	}
	return c, nil
}

// sampledClasses lists the classes upstream samples locations for:
// foreground labels (or regions), plus the ignore tuple (-1, *all_labels)
// when an ignore label is declared.
func sampledClasses(l *dataset.Labels) ([][]int, []string) {
	var classes [][]int
	var keys []string
	if l.RegionBased {
		for _, r := range l.ForegroundRegions() {
			classes = append(classes, r)
			keys = append(keys, tupleKey(r))
		}
	} else {
		for _, v := range l.ForegroundLabels() {
			classes = append(classes, []int{v})
			keys = append(keys, strconv.Itoa(v))
		}
	}
	if l.HasIgnore {
		t := append([]int{-1}, l.AllLabels()...)
		classes = append(classes, t)
		keys = append(keys, tupleKey(t))
	}
	return classes, keys
}

// tupleKey renders a Python tuple of ints, e.g. "(1, 2)" or "(3,)".
func tupleKey(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	if len(v) == 1 {
		return "(" + s[0] + ",)"
	}
	return "(" + strings.Join(s, ", ") + ")"
}

// TargetSpacing returns the spacing a case with transposed original
// spacing orig is resampled to: the configuration spacing, with orig's first
// entry prepended for a 2-D configuration.
func (c *Config) TargetSpacing(orig [3]float64) [3]float64 {
	if len(c.Spacing) == 2 {
		return [3]float64{orig[0], c.Spacing[0], c.Spacing[1]}
	}
	return [3]float64{c.Spacing[0], c.Spacing[1], c.Spacing[2]}
}
