package preprocess

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"github.com/nnrunner/nnrunner/stages/imageio"
	"github.com/nnrunner/nnrunner/stages/pyjson"
)

// Property keys, as in upstream's pickled properties (plus "geometry", the
// reader geometry nnrunner needs to write predictions back).
const (
	keySITK           = "sitk_stuff"
	keySpacing        = "spacing"
	keyShapeBefore    = "shape_before_cropping"
	keyBBox           = "bbox_used_for_cropping"
	keyShapeAfter     = "shape_after_cropping_and_before_resampling"
	keyClassLocations = "class_locations"
	keyGeometry       = "geometry"
)

// MarshalJSON renders the properties as upstream's pickle converted to JSON
// on one line (json.dumps separators; tuples as lists, int keys as
// strings), in upstream's key order with "geometry" after "sitk_stuff". The
// class locations are encoded directly: they are the bulk of the file.
func (p *Properties) MarshalJSON() ([]byte, error) {
	o := pyjson.NewObject()
	sitk := pyjson.NewObject()
	sitk.Set("spacing", p.Geometry.SITK.Spacing)
	sitk.Set("origin", p.Geometry.SITK.Origin)
	sitk.Set("direction", p.Geometry.SITK.Direction)
	o.Set(keySITK, sitk)
	raw, err := json.Marshal(p.Geometry)
	if err != nil {
		return nil, fmt.Errorf("encode geometry: %w", err)
	}
	g, err := pyjson.Unmarshal(raw)
	if err != nil {
		return nil, fmt.Errorf("encode geometry: %w", err)
	}
	o.Set(keyGeometry, g)
	o.Set(keySpacing, p.Spacing[:])
	o.Set(keyShapeBefore, p.ShapeBeforeCropping[:])
	o.Set(keyBBox, [][2]int(p.BBox[:]))
	o.Set(keyShapeAfter, p.ShapeAfterCropping[:])
	b, err := pyjson.Marshal(o, pyjson.Options{})
	if err != nil {
		return nil, err
	}
	if p.ClassLocations == nil {
		return b, nil
	}
	b = append(b[:len(b)-1], ", \""+keyClassLocations+"\": {"...)
	for i, c := range p.ClassLocations {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = strconv.AppendQuote(b, c.Key)
		b = append(b, ": ["...)
		for r, row := range c.Coords {
			if r > 0 {
				b = append(b, ", "...)
			}
			b = append(b, '[')
			for k, v := range row {
				if k > 0 {
					b = append(b, ", "...)
				}
				b = strconv.AppendInt(b, v, 10)
			}
			b = append(b, ']')
		}
		b = append(b, ']')
	}
	return append(b, "}}"...), nil
}

// ReadProperties reads a <case>.json written by the preprocess stage.
func ReadProperties(path string) (*Properties, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p, err := UnmarshalProperties(b)
	if err != nil {
		return nil, fmt.Errorf("read properties %s: %w", path, err)
	}
	return p, nil
}

// UnmarshalProperties decodes properties written by MarshalJSON. The class
// locations keep their order.
func UnmarshalProperties(b []byte) (*Properties, error) {
	var typed struct {
		SITK      imageio.SITKStuff `json:"sitk_stuff"`
		Geometry  *imageio.Geometry `json:"geometry"`
		Spacing   *[3]float64       `json:"spacing"`
		Before    *[3]int           `json:"shape_before_cropping"`
		BBox      *[3][2]int        `json:"bbox_used_for_cropping"`
		After     *[3]int           `json:"shape_after_cropping_and_before_resampling"`
		ClassLocs json.RawMessage   `json:"class_locations"`
	}
	if err := json.Unmarshal(b, &typed); err != nil {
		return nil, err
	}
	switch {
	case typed.Spacing == nil:
		return nil, fmt.Errorf("missing key %q", keySpacing)
	case typed.Before == nil:
		return nil, fmt.Errorf("missing key %q", keyShapeBefore)
	case typed.BBox == nil:
		return nil, fmt.Errorf("missing key %q", keyBBox)
	case typed.After == nil:
		return nil, fmt.Errorf("missing key %q", keyShapeAfter)
	}
	p := &Properties{Spacing: *typed.Spacing, ShapeBeforeCropping: *typed.Before, BBox: *typed.BBox, ShapeAfterCropping: *typed.After}
	if typed.Geometry != nil {
		p.Geometry = *typed.Geometry
	}
	p.Geometry.SITK = typed.SITK
	if typed.ClassLocs == nil {
		return p, nil
	}
	dec := json.NewDecoder(bytes.NewReader(typed.ClassLocs))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("%q: want an object", keyClassLocations)
	}
	p.ClassLocations = []ClassLocations{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%q: %w", keyClassLocations, err)
		}
		c := ClassLocations{Key: t.(string), Coords: [][4]int64{}}
		if err := dec.Decode(&c.Coords); err != nil {
			return nil, fmt.Errorf("%q[%q]: %w", keyClassLocations, c.Key, err)
		}
		p.ClassLocations = append(p.ClassLocations, c)
	}
	return p, nil
}
