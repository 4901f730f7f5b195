// Package dataloader draws nnU-Net training batches from a folder written by
// the preprocess stage (spec §10.4): cases chosen uniformly with
// replacement, the last third of each batch forced onto foreground using the
// stored class locations, patch boxes with upstream's bounds (Python floor
// division), and out-of-image parts padded with 0 (image) and −1 (labels).
package dataloader

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/nnrunner/nnrunner/stages/npy"
	"github.com/nnrunner/nnrunner/stages/preprocess"
)

// Case is one preprocessed case held in memory.
type Case struct {
	ID    string
	Shape [4]int    // (C, X, Y, Z)
	Data  []float32 // (C, X, Y, Z), C order
	Seg   []int16   // (X, Y, Z); −1 outside the cropped nonzero region
	// Classes holds the stored class locations of every class with at
	// least one location, in file order.
	Classes []Locations
}

// Locations are the sampled voxel coordinates (x, y, z) of one class.
type Locations struct {
	Key    string
	Coords [][3]int
}

// Voxels returns the number of voxels of one channel.
func (c *Case) Voxels() int { return c.Shape[1] * c.Shape[2] * c.Shape[3] }

// ListCases returns the identifiers of the cases in a preprocessed
// configuration folder (every <id>_seg.npy with its <id>.npy), sorted.
func ListCases(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list preprocessed cases: %w", err)
	}
	var ids []string
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), "_seg.npy")
		if !ok || e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, id+".npy")); err != nil {
			return nil, fmt.Errorf("list preprocessed cases: %s has no image array: %w", e.Name(), err)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("list preprocessed cases: %s holds no <case>_seg.npy; is it a configuration folder written by the preprocess stage?", dir)
	}
	slices.Sort(ids)
	return ids, nil
}

// Load reads case id from a preprocessed configuration folder.
func Load(dir, id string) (*Case, error) {
	base := filepath.Join(dir, id)
	img, err := npy.ReadFile(base + ".npy")
	if err != nil {
		return nil, fmt.Errorf("load case %s: %w", id, err)
	}
	if len(img.Shape) != 4 {
		return nil, fmt.Errorf("load case %s: %s.npy has shape %v, want (C, X, Y, Z)", id, base, img.Shape)
	}
	c := &Case{ID: id, Shape: [4]int(img.Shape)}
	if c.Data, err = img.Float32(); err != nil {
		return nil, fmt.Errorf("load case %s: %s.npy: %w", id, base, err)
	}
	sa, err := npy.ReadFile(base + "_seg.npy")
	if err != nil {
		return nil, fmt.Errorf("load case %s: %w", id, err)
	}
	if sa.Len() != c.Voxels() {
		return nil, fmt.Errorf("load case %s: %s_seg.npy has shape %v, the image %v", id, base, sa.Shape, img.Shape)
	}
	seg, err := sa.Int64s()
	if err != nil {
		return nil, fmt.Errorf("load case %s: %s_seg.npy: %w", id, base, err)
	}
	c.Seg = make([]int16, len(seg))
	for i, v := range seg {
		c.Seg[i] = int16(v)
	}
	props, err := preprocess.ReadProperties(base + ".json")
	if err != nil {
		return nil, fmt.Errorf("load case %s: %w", id, err)
	}
	for _, cl := range props.ClassLocations {
		if len(cl.Coords) == 0 {
			continue
		}
		l := Locations{Key: cl.Key, Coords: make([][3]int, len(cl.Coords))}
		for i, v := range cl.Coords {
			l.Coords[i] = [3]int{int(v[1]), int(v[2]), int(v[3])}
			for a := range 3 {
				if l.Coords[i][a] < 0 || l.Coords[i][a] >= c.Shape[a+1] {
					return nil, fmt.Errorf("load case %s: class %s location %v lies outside the array %v", id, cl.Key, v, c.Shape)
				}
			}
		}
		c.Classes = append(c.Classes, l)
	}
	return c, nil
}

// LoadAll reads the cases ids from dir with up to workers goroutines; the
// result is in the order of ids.
func LoadAll(ctx context.Context, dir string, ids []string, workers int) ([]*Case, error) {
	out := make([]*Case, len(ids))
	errs := make([]error, len(ids))
	workers = max(1, min(workers, len(ids)))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(ids); i += workers {
				if ctx.Err() != nil {
					errs[i] = ctx.Err()
					return
				}
				out[i], errs[i] = Load(dir, ids[i])
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
