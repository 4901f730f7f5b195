// Package subset makes a raw nnU-Net dataset from some cases of another:
// training cases (imagesTr/labelsTr) and held-out cases (imagesTs/labelsTs)
// chosen by name from a JSON file of case lists, such as MSD Hippocampus's
// splits_suggested.json. Files are copied, so the new dataset is
// self-contained and its content hash covers the images themselves.
package subset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nnrunner/nnrunner/stages/dataset"
	"github.com/nnrunner/nnrunner/stages/pyjson"
)

// Selection names the cases of the new dataset.
type Selection struct {
	// Name is the new dataset's folder name, e.g. Dataset005_HippoFinetune.
	Name string
	// Train is the key of the list of training cases; the first TrainCount
	// of them are taken (all when 0).
	Train      string
	TrainCount int
	// Test is the key of the list of held-out cases ("" for none); cases
	// that are training cases are skipped, then the first TestCount are
	// taken (all when 0). Train and Test may name the same list.
	Test      string
	TestCount int
}

// Lists reads a JSON object mapping keys to lists of case identifiers
// (other members, such as a "note" string, are ignored).
func Lists(path string) (map[string][]string, error) {
	obj, err := pyjson.ReadObject(path)
	if err != nil {
		return nil, fmt.Errorf("read case lists: %w", err)
	}
	out := map[string][]string{}
	for k, v := range obj.All() {
		l, ok := v.([]any)
		if !ok {
			continue
		}
		ids := make([]string, len(l))
		for i, e := range l {
			s, isStr := e.(string)
			if !isStr {
				return nil, fmt.Errorf("%s: %s[%d] is %v, want a case identifier string", path, k, i, e)
			}
			ids[i] = s
		}
		out[k] = ids
	}
	return out, nil
}

// Choose applies sel to the lists and returns the training and held-out
// case identifiers.
func Choose(lists map[string][]string, sel Selection, where string) (train, test []string, err error) {
	list := func(key string) ([]string, error) {
		l, ok := lists[key]
		if !ok {
			keys := make([]string, 0, len(lists))
			for k := range lists {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			return nil, fmt.Errorf("%s has no case list %q (lists: %s)", where, key, strings.Join(keys, ", "))
		}
		return l, nil
	}
	if sel.TrainCount < 0 || sel.TestCount < 0 {
		return nil, nil, fmt.Errorf("case counts %d and %d must not be negative", sel.TrainCount, sel.TestCount)
	}
	l, err := list(sel.Train)
	if err != nil {
		return nil, nil, err
	}
	train = l
	if sel.TrainCount > 0 {
		if sel.TrainCount > len(l) {
			return nil, nil, fmt.Errorf("%s: list %q has %d cases, fewer than the %d training cases asked for", where, sel.Train, len(l), sel.TrainCount)
		}
		train = l[:sel.TrainCount]
	}
	if sel.Test == "" {
		return train, nil, nil
	}
	if l, err = list(sel.Test); err != nil {
		return nil, nil, err
	}
	for _, id := range l {
		if !slices.Contains(train, id) {
			test = append(test, id)
		}
	}
	if sel.TestCount > 0 {
		if sel.TestCount > len(test) {
			return nil, nil, fmt.Errorf("%s: list %q has %d cases besides the training cases, fewer than the %d held-out cases asked for", where, sel.Test, len(test), sel.TestCount)
		}
		test = test[:sel.TestCount]
	}
	if len(test) == 0 {
		return nil, nil, fmt.Errorf("%s: list %q leaves no held-out case besides the training cases", where, sel.Test)
	}
	return train, test, nil
}

// Make writes the dataset sel.Name into outDir from the cases of the raw
// dataset src, and returns its folder. dataset.json is src's with
// numTraining updated (and an explicit `dataset` file list dropped).
func Make(ctx context.Context, src, outDir string, lists map[string][]string, sel Selection, where string) (string, error) {
	if sel.Name == "" || strings.ContainsAny(sel.Name, `/\`) || sel.Name == "." || sel.Name == ".." {
		return "", fmt.Errorf("dataset name %q must be a plain folder name such as Dataset005_HippoFinetune", sel.Name)
	}
	train, test, err := Choose(lists, sel, where)
	if err != nil {
		return "", err
	}
	ds, err := dataset.Load(src)
	if err != nil {
		return "", err
	}
	byID := make(map[string]dataset.Case, len(ds.Cases))
	for _, c := range ds.Cases {
		byID[c.ID] = c
	}
	root := filepath.Join(outDir, sel.Name)
	for _, part := range []struct {
		ids          []string
		images, labs string
	}{{train, "imagesTr", "labelsTr"}, {test, "imagesTs", "labelsTs"}} {
		if len(part.ids) == 0 {
			continue
		}
		for _, d := range []string{part.images, part.labs} {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				return "", err
			}
		}
		for _, id := range part.ids {
			if err := ctx.Err(); err != nil {
				return "", err
			}
			c, ok := byID[id]
			if !ok {
				return "", fmt.Errorf("%s: case %s is not in the dataset %s", where, id, src)
			}
			for ch, img := range c.Images {
				dst := filepath.Join(root, part.images, fmt.Sprintf("%s_%04d%s", id, ch, ds.FileEnding))
				if err := copyFile(img, dst); err != nil {
					return "", err
				}
			}
			if err := copyFile(c.Label, filepath.Join(root, part.labs, id+ds.FileEnding)); err != nil {
				return "", err
			}
		}
	}
	dj := ds.JSON.Clone()
	dj.Set("numTraining", int64(len(train)))
	dj.Delete("dataset")
	if err := pyjson.WriteFile(filepath.Join(root, "dataset.json"), dj, pyjson.Options{Indent: 4}); err != nil {
		return "", err
	}
	return root, nil
}

// copyFile copies a regular file.
func copyFile(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("copy case file: %s is missing", src)
		}
		return fmt.Errorf("copy case file: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("copy case file: %w", err)
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("copy case file: %w", cerr)
		}
	}()
	if _, err := io.Copy(out, in); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}
