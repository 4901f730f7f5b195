package preprocess

import (
	"fmt"
	"path/filepath"

	"github.com/nnrunner/nnrunner/stages/npy"
)

// Load reads the case id written by the stage into dir (a configuration's
// data folder): <id>.npy, <id>_seg.npy and <id>.json.
func Load(dir, id string) (*Case, error) {
	base := filepath.Join(dir, id)
	d, err := npy.ReadFile(base + ".npy")
	if err != nil {
		return nil, err
	}
	if len(d.Shape) != 4 {
		return nil, fmt.Errorf("%s.npy: shape %v, want (C, X, Y, Z)", base, d.Shape)
	}
	cs := &Case{Shape: [4]int(d.Shape)}
	if cs.Data, err = d.Float32(); err != nil {
		return nil, fmt.Errorf("%s.npy: %w", base, err)
	}
	s, err := npy.ReadFile(base + "_seg.npy")
	if err != nil {
		return nil, err
	}
	if len(s.Shape) != 4 || s.Shape[0] != 1 || [3]int(s.Shape[1:]) != [3]int(cs.Shape[1:]) {
		return nil, fmt.Errorf("%s_seg.npy: shape %v, want (1, %d, %d, %d)", base, s.Shape, cs.Shape[1], cs.Shape[2], cs.Shape[3])
	}
	v, err := s.Int64s()
	if err != nil {
		return nil, fmt.Errorf("%s_seg.npy: %w", base, err)
	}
	cs.Seg = make([]int16, len(v))
	for i, x := range v {
		cs.Seg[i] = int16(x)
	}
	p, err := ReadProperties(base + ".json")
	if err != nil {
		return nil, err
	}
	cs.Properties = *p
	return cs, nil
}
