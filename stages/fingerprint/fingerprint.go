// Package fingerprint computes nnU-Net's dataset fingerprint
// (dataset_fingerprint.json, spec §3): per case the shape after cropping to
// the nonzero region and the spacing, and per channel foreground intensity
// statistics from numpy-exact random sampling, so that the result equals
// upstream nnU-Net's.
package fingerprint

import (
	"fmt"
	"strconv"

	"github.com/nnrunner/nnrunner/stages/pyjson"
)

// FileName is the name upstream gives the fingerprint file.
const FileName = "dataset_fingerprint.json"

// Fingerprint is the content of dataset_fingerprint.json.
type Fingerprint struct {
	// Channels holds the foreground intensity statistics by channel index
	// (foreground_intensity_properties_per_channel).
	Channels []ChannelStats
	// MedianRelativeSizeAfterCropping is the median over cases of the
	// cropped voxel count divided by the original voxel count.
	MedianRelativeSizeAfterCropping float64
	// ShapesAfterCrop holds the spatial shape of every case after cropping,
	// in sorted case order and file (array) axis order.
	ShapesAfterCrop [][3]int
	// Spacings holds every case's spacing as the reader reports it.
	Spacings [][3]float64
}

// ChannelStats are the pooled foreground intensity statistics of one
// channel.
type ChannelStats struct {
	Max           float64
	Mean          float64
	Median        float64
	Min           float64
	Percentile005 float64 // percentile_00_5
	Percentile995 float64 // percentile_99_5
	Std           float64
}

// PyJSON converts f to the JSON layout upstream writes.
func (f *Fingerprint) PyJSON() (any, error) {
	props := pyjson.NewObject()
	for i, c := range f.Channels {
		o := pyjson.NewObject()
		o.Set("max", c.Max)
		o.Set("mean", c.Mean)
		o.Set("median", c.Median)
		o.Set("min", c.Min)
		o.Set("percentile_00_5", c.Percentile005)
		o.Set("percentile_99_5", c.Percentile995)
		o.Set("std", c.Std)
		props.Set(strconv.Itoa(i), o)
	}
	out := pyjson.NewObject()
	out.Set("foreground_intensity_properties_per_channel", props)
	out.Set("median_relative_size_after_cropping", f.MedianRelativeSizeAfterCropping)
	shapes := make([]any, len(f.ShapesAfterCrop))
	for i, s := range f.ShapesAfterCrop {
		shapes[i] = []any{int64(s[0]), int64(s[1]), int64(s[2])}
	}
	out.Set("shapes_after_crop", shapes)
	sp := make([]any, len(f.Spacings))
	for i, s := range f.Spacings {
		sp[i] = []any{s[0], s[1], s[2]}
	}
	out.Set("spacings", sp)
	return out, nil
}

// WriteFile writes f to path as upstream does (json.dump with indent=4 and
// sort_keys=True, Python float repr). A failed write leaves no file.
func (f *Fingerprint) WriteFile(path string) error {
	return pyjson.WriteFile(path, f, pyjson.Options{Indent: 4, SortKeys: true})
}

// ReadFile reads a dataset_fingerprint.json written by upstream or by
// WriteFile.
func ReadFile(path string) (*Fingerprint, error) {
	o, err := pyjson.ReadObject(path)
	if err != nil {
		return nil, fmt.Errorf("read fingerprint: %w", err)
	}
	f, err := fromJSON(o)
	if err != nil {
		return nil, fmt.Errorf("read fingerprint %s: %w", path, err)
	}
	return f, nil
}

func fromJSON(o *pyjson.Object) (*Fingerprint, error) {
	f := &Fingerprint{}
	get := func(o *pyjson.Object, k string) (any, error) {
		v, ok := o.Get(k)
		if !ok {
			return nil, fmt.Errorf("key %q is missing", k)
		}
		return v, nil
	}
	num := func(v any, what string) (float64, error) {
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		}
		return 0, fmt.Errorf("%s: want a number, got %s", what, pyjson.TypeName(v))
	}
	v, err := get(o, "foreground_intensity_properties_per_channel")
	if err != nil {
		return nil, err
	}
	props, ok := v.(*pyjson.Object)
	if !ok {
		return nil, fmt.Errorf("foreground_intensity_properties_per_channel: want an object")
	}
	f.Channels = make([]ChannelStats, props.Len())
	for i := range f.Channels {
		key := strconv.Itoa(i)
		cv, ok := props.Get(key)
		co, isObj := cv.(*pyjson.Object)
		if !ok || !isObj {
			return nil, fmt.Errorf("foreground_intensity_properties_per_channel: channel %q missing or not an object", key)
		}
		c := &f.Channels[i]
		for _, fld := range []struct {
			k string
			p *float64
		}{{"max", &c.Max}, {"mean", &c.Mean}, {"median", &c.Median}, {"min", &c.Min},
			{"percentile_00_5", &c.Percentile005}, {"percentile_99_5", &c.Percentile995}, {"std", &c.Std}} {
			x, err := get(co, fld.k)
			if err != nil {
				return nil, fmt.Errorf("channel %s: %w", key, err)
			}
			if *fld.p, err = num(x, "channel "+key+" "+fld.k); err != nil {
				return nil, err
			}
		}
	}
	if v, err = get(o, "median_relative_size_after_cropping"); err != nil {
		return nil, err
	}
	if f.MedianRelativeSizeAfterCropping, err = num(v, "median_relative_size_after_cropping"); err != nil {
		return nil, err
	}
	if v, err = get(o, "shapes_after_crop"); err != nil {
		return nil, err
	}
	rows, err := triples(v, "shapes_after_crop")
	if err != nil {
		return nil, err
	}
	for i, r := range rows {
		var s [3]int
		for j, e := range r {
			n, ok := e.(int64)
			if !ok {
				return nil, fmt.Errorf("shapes_after_crop[%d][%d]: want an integer", i, j)
			}
			s[j] = int(n)
		}
		f.ShapesAfterCrop = append(f.ShapesAfterCrop, s)
	}
	if v, err = get(o, "spacings"); err != nil {
		return nil, err
	}
	if rows, err = triples(v, "spacings"); err != nil {
		return nil, err
	}
	for i, r := range rows {
		var s [3]float64
		for j, e := range r {
			if s[j], err = num(e, fmt.Sprintf("spacings[%d][%d]", i, j)); err != nil {
				return nil, err
			}
		}
		f.Spacings = append(f.Spacings, s)
	}
	return f, nil
}

func triples(v any, what string) ([][]any, error) {
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: want a list", what)
	}
	out := make([][]any, len(l))
	for i, e := range l {
		r, ok := e.([]any)
		if !ok || len(r) != 3 {
			return nil, fmt.Errorf("%s[%d]: want a list of 3 numbers", what, i)
		}
		out[i] = r
	}
	return out, nil
}
