package plan

import (
	"fmt"

	"github.com/nnrunner/nnrunner/stages/plans"
	"github.com/nnrunner/nnrunner/stages/pyjson"
)

// Fingerprint holds what the planner reads from dataset_fingerprint.json
// (spec §3.4). Spacings and shapes are per case, in file axis order.
type Fingerprint struct {
	Spacings                        [][]float64
	ShapesAfterCrop                 [][]int
	MedianRelativeSizeAfterCropping float64
	// ForegroundIntensityProperties is copied verbatim into the plans.
	ForegroundIntensityProperties *pyjson.Object
	// NumChannels is the number of channels with intensity statistics.
	NumChannels int
}

// LoadFingerprint reads and checks a dataset_fingerprint.json.
func LoadFingerprint(path string) (*Fingerprint, error) {
	doc, err := pyjson.ReadObject(path)
	if err != nil {
		return nil, fmt.Errorf("read fingerprint: %w", err)
	}
	fp, err := parseFingerprint(doc)
	if err != nil {
		return nil, fmt.Errorf("fingerprint %s: %w", path, err)
	}
	return fp, nil
}

func parseFingerprint(doc *pyjson.Object) (*Fingerprint, error) {
	fp := &Fingerprint{}
	get := func(key string) (any, error) {
		v, ok := doc.Get(key)
		if !ok {
			return nil, fmt.Errorf("%q is missing; recompute the fingerprint", key)
		}
		return v, nil
	}
	v, err := get("spacings")
	if err != nil {
		return nil, err
	}
	if fp.Spacings, err = numberRows(v, "spacings"); err != nil {
		return nil, err
	}
	if v, err = get("shapes_after_crop"); err != nil {
		return nil, err
	}
	rows, err := numberRows(v, "shapes_after_crop")
	if err != nil {
		return nil, err
	}
	fp.ShapesAfterCrop = make([][]int, len(rows))
	for i, r := range rows {
		fp.ShapesAfterCrop[i] = make([]int, len(r))
		for j, x := range r {
			if x != float64(int(x)) || x < 1 {
				return nil, fmt.Errorf("shapes_after_crop[%d]: %v is not a positive integer", i, r)
			}
			fp.ShapesAfterCrop[i][j] = int(x)
		}
	}
	if len(fp.Spacings) == 0 || len(fp.Spacings) != len(fp.ShapesAfterCrop) {
		return nil, fmt.Errorf("spacings has %d cases and shapes_after_crop %d; want the same positive number", len(fp.Spacings), len(fp.ShapesAfterCrop))
	}
	for i := range fp.Spacings {
		if len(fp.Spacings[i]) != 3 || len(fp.ShapesAfterCrop[i]) != 3 {
			return nil, fmt.Errorf("case %d: spacing %v and shape %v must have 3 axes", i, fp.Spacings[i], fp.ShapesAfterCrop[i])
		}
		for _, s := range fp.Spacings[i] {
			if !(s > 0) {
				return nil, fmt.Errorf("spacings[%d] = %v: spacings must be > 0", i, fp.Spacings[i])
			}
		}
	}
	if v, err = get("median_relative_size_after_cropping"); err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case float64:
		fp.MedianRelativeSizeAfterCropping = x
	case int64:
		fp.MedianRelativeSizeAfterCropping = float64(x)
	default:
		return nil, fmt.Errorf("median_relative_size_after_cropping: want a number, got %s", pyjson.TypeName(v))
	}
	if v, err = get("foreground_intensity_properties_per_channel"); err != nil {
		return nil, err
	}
	props, err := plans.ParseIntensityProperties(v, "foreground_intensity_properties_per_channel")
	if err != nil {
		return nil, err
	}
	fp.ForegroundIntensityProperties = v.(*pyjson.Object)
	fp.NumChannels = len(props)
	return fp, nil
}

func numberRows(v any, key string) ([][]float64, error) {
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: want a list of per-case lists, got %s", key, pyjson.TypeName(v))
	}
	out := make([][]float64, len(l))
	for i, e := range l {
		r, ok := e.([]any)
		if !ok {
			return nil, fmt.Errorf("%s[%d]: want a list of numbers, got %s", key, i, pyjson.TypeName(e))
		}
		out[i] = make([]float64, len(r))
		for j, x := range r {
			switch n := x.(type) {
			case float64:
				out[i][j] = n
			case int64:
				out[i][j] = float64(n)
			default:
				return nil, fmt.Errorf("%s[%d][%d]: want a number, got %s", key, i, j, pyjson.TypeName(x))
			}
		}
	}
	return out, nil
}
