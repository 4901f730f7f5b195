package preprocess

import (
	"encoding/json"
	"fmt"

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

// Object renders the properties as upstream's pickle converted to JSON
// (tuples as lists, int keys as strings), in upstream's key order.
func (p *Properties) Object() (*pyjson.Object, error) {
	o := pyjson.NewObject()
	sitk := pyjson.NewObject()
	sitk.Set("spacing", p.Geometry.SITK.Spacing)
	sitk.Set("origin", p.Geometry.SITK.Origin)
	sitk.Set("direction", p.Geometry.SITK.Direction)
	o.Set(keySITK, sitk)
	o.Set(keySpacing, p.Spacing[:])
	o.Set(keyShapeBefore, p.ShapeBeforeCropping[:])
	o.Set(keyBBox, [][2]int(p.BBox[:]))
	o.Set(keyShapeAfter, p.ShapeAfterCropping[:])
	if p.ClassLocations != nil {
		cl := pyjson.NewObject()
		for _, c := range p.ClassLocations {
			cl.Set(c.Key, c.Coords)
		}
		o.Set(keyClassLocations, cl)
	}
	raw, err := json.Marshal(p.Geometry)
	if err != nil {
		return nil, fmt.Errorf("encode geometry: %w", err)
	}
	g, err := pyjson.Unmarshal(raw)
	if err != nil {
		return nil, fmt.Errorf("encode geometry: %w", err)
	}
	o.Set(keyGeometry, g)
	return o, nil
}

// ReadProperties reads a <case>.json written by the preprocess stage.
func ReadProperties(path string) (*Properties, error) {
	o, err := pyjson.ReadObject(path)
	if err != nil {
		return nil, err
	}
	p, err := propertiesFromObject(o)
	if err != nil {
		return nil, fmt.Errorf("read properties %s: %w", path, err)
	}
	return p, nil
}

func propertiesFromObject(o *pyjson.Object) (*Properties, error) {
	p := &Properties{}
	// Round-trip the typed fields through encoding/json: pyjson renders
	// plain JSON for everything a properties file holds.
	typed := struct {
		Spacing  [3]float64       `json:"spacing"`
		Before   [3]int           `json:"shape_before_cropping"`
		BBox     [3][2]int        `json:"bbox_used_for_cropping"`
		After    [3]int           `json:"shape_after_cropping_and_before_resampling"`
		Geometry imageio.Geometry `json:"geometry"`
	}{}
	for _, k := range []string{keySpacing, keyShapeBefore, keyBBox, keyShapeAfter, keyGeometry} {
		if !o.Has(k) {
			return nil, fmt.Errorf("missing key %q", k)
		}
	}
	raw, err := pyjson.Marshal(o, pyjson.Options{})
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &typed); err != nil {
		return nil, err
	}
	p.Spacing, p.ShapeBeforeCropping, p.BBox, p.ShapeAfterCropping, p.Geometry = typed.Spacing, typed.Before, typed.BBox, typed.After, typed.Geometry
	if v, ok := o.Get(keyClassLocations); ok {
		cl, ok := v.(*pyjson.Object)
		if !ok {
			return nil, fmt.Errorf("%q: want an object, got %s", keyClassLocations, pyjson.TypeName(v))
		}
		p.ClassLocations = []ClassLocations{}
		for k, rows := range cl.All() {
			enc, err := pyjson.Marshal(rows, pyjson.Options{})
			if err != nil {
				return nil, err
			}
			c := ClassLocations{Key: k}
			if err := json.Unmarshal(enc, &c.Coords); err != nil {
				return nil, fmt.Errorf("%q[%q]: %w", keyClassLocations, k, err)
			}
			if c.Coords == nil {
				c.Coords = [][4]int64{}
			}
			p.ClassLocations = append(p.ClassLocations, c)
		}
	}
	return p, nil
}
