// Package normalize implements nnU-Net's intensity normalization schemes
// (default_normalization_schemes.py) with upstream's float32 arithmetic:
// CTNormalization, ZScoreNormalization (with or without the nonzero mask),
// NoNormalization, RescaleTo01Normalization and RGBTo01Normalization.
package normalize

import (
	"fmt"
	"math"

	"github.com/nnrunner/nnrunner/stages/npstat"
)

// Scheme names as written in plans files.
const (
	CT          = "CTNormalization"
	ZScore      = "ZScoreNormalization"
	None        = "NoNormalization"
	RescaleTo01 = "RescaleTo01Normalization"
	RGBTo01     = "RGBTo01Normalization"
)

// eps is the lower bound of divisors (upstream 1e-8).
const eps = 1e-8

// Intensity holds the foreground statistics CTNormalization uses.
type Intensity struct {
	Mean, Std, Percentile00_5, Percentile99_5 float64
}

// Channel normalizes one channel.
type Channel struct {
	Scheme  string
	UseMask bool
	// Intensity is required by CTNormalization only.
	Intensity *Intensity
}

// Check reports an unknown scheme or missing statistics.
func (c Channel) Check() error {
	switch c.Scheme {
	case ZScore, None, RescaleTo01, RGBTo01:
		return nil
	case CT:
		if c.Intensity == nil {
			return fmt.Errorf("normalization %s needs foreground intensity properties for the channel (plans foreground_intensity_properties_per_channel)", CT)
		}
		return nil
	}
	return fmt.Errorf("unknown normalization scheme %q (known: %s, %s, %s, %s, %s)", c.Scheme, CT, ZScore, None, RescaleTo01, RGBTo01)
}

// Apply normalizes x in place. seg is the cropped segmentation of the same
// shape (values < 0 mark voxels outside the nonzero mask); it is only read
// by ZScoreNormalization with UseMask.
func (c Channel) Apply(x []float32, seg []int16) error {
	if err := c.Check(); err != nil {
		return err
	}
	switch c.Scheme {
	case CT:
		lo, hi := float32(c.Intensity.Percentile00_5), float32(c.Intensity.Percentile99_5)
		m := float32(c.Intensity.Mean)
		s := float32(math.Max(c.Intensity.Std, eps))
		for i, v := range x {
			v = max(v, lo)
			v = min(v, hi)
			v -= m
			x[i] = v / s
		}
	case ZScore:
		if c.UseMask {
			if len(seg) != len(x) {
				return fmt.Errorf("%s with mask: segmentation has %d voxels, image %d", ZScore, len(seg), len(x))
			}
			n := 0
			for _, l := range seg {
				if l >= 0 {
					n++
				}
			}
			vals := make([]float32, 0, n)
			for i, l := range seg {
				if l >= 0 {
					vals = append(vals, x[i])
				}
			}
			m, s := npstat.Mean(vals), divisor(npstat.Std(vals))
			for i, l := range seg {
				if l >= 0 {
					x[i] = (x[i] - m) / s
				}
			}
			return nil
		}
		m, s := npstat.Mean(x), divisor(npstat.Std(x))
		for i, v := range x {
			v -= m
			x[i] = v / s
		}
	case RescaleTo01:
		lo := float32(math.Inf(1))
		for _, v := range x {
			lo = min(lo, v)
		}
		hi := float32(math.Inf(-1))
		for i, v := range x {
			x[i] = v - lo
			hi = max(hi, x[i])
		}
		d := max(hi, float32(eps))
		for i, v := range x {
			x[i] = v / d
		}
	case RGBTo01:
		for _, v := range x {
			if !(v >= 0 && v <= 255) {
				return fmt.Errorf("%s: intensity %v outside [0, 255]; use another normalization scheme for this channel", RGBTo01, v)
			}
		}
		for i, v := range x {
			x[i] = v / 255
		}
	}
	return nil
}

// divisor is max(std, 1e-8) as upstream computes it: a float32 std, or the
// float 1e-8 cast to float32 when the std is smaller.
func divisor(s float32) float32 {
	if float64(s) > eps || math.IsNaN(float64(s)) {
		return s
	}
	return float32(eps)
}
