// Package splits makes and reads nnU-Net's cross-validation splits
// (splits_final.json, spec §8): sklearn KFold(5, shuffle=True,
// random_state=12345) over the sorted case identifiers, and the seeded
// 80:20 split used for a fold beyond the split file.
package splits

import (
	"fmt"
	"slices"

	"github.com/nnrunner/nnrunner/stages/nprand"
	"github.com/nnrunner/nnrunner/stages/pyjson"
)

// Upstream's defaults (nnUNetTrainer.do_split).
const (
	DefaultFolds = 5
	DefaultSeed  = 12345
)

// Fold is one train/validation split of the case identifiers.
type Fold struct {
	Train []string
	Val   []string
}

// KFold splits ids like sklearn's KFold(n_splits, shuffle=True,
// random_state=seed) applied to the sorted identifiers, as upstream's
// generate_crossval_split: both lists of every fold are in sorted order.
func KFold(ids []string, nSplits int, seed uint32) ([]Fold, error) {
	keys := slices.Sorted(slices.Values(ids))
	n := len(keys)
	if nSplits < 2 {
		return nil, fmt.Errorf("k-fold split: n_splits must be at least 2, got %d", nSplits)
	}
	if n < nSplits {
		return nil, fmt.Errorf("k-fold split: cannot make %d folds from %d cases; add cases or provide a splits file", nSplits, n)
	}
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	nprand.Shuffle(nprand.New(seed), perm)
	folds := make([]Fold, nSplits)
	start := 0
	for f := range folds {
		size := n / nSplits
		if f < n%nSplits {
			size++
		}
		isVal := make([]bool, n)
		for _, i := range perm[start : start+size] {
			isVal[i] = true
		}
		start += size
		for i, k := range keys {
			if isVal[i] {
				folds[f].Val = append(folds[f].Val, k)
			} else {
				folds[f].Train = append(folds[f].Train, k)
			}
		}
	}
	return folds, nil
}

// Default returns upstream's default 5-fold split of ids.
func Default(ids []string) ([]Fold, error) {
	return KFold(ids, DefaultFolds, DefaultSeed)
}

// Random8020 is the split upstream trains fold f on when the split file has
// fewer than f+1 folds: with RandomState(12345 + f), train keys are
// choice(n, int(0.8 n), replace=False) of the sorted identifiers (in drawn
// order), validation keys the remaining ones in sorted order.
func Random8020(ids []string, fold int) (Fold, error) {
	if fold < 0 {
		return Fold{}, fmt.Errorf("80:20 split: fold %d is negative", fold)
	}
	keys := slices.Sorted(slices.Values(ids))
	n := len(keys)
	if n == 0 {
		return Fold{}, fmt.Errorf("80:20 split: no cases")
	}
	idx := nprand.New(uint32(DefaultSeed+fold)).ChoiceNoReplace(n, int(float64(n)*0.8))
	inTrain := make([]bool, n)
	var f Fold
	for _, i := range idx {
		inTrain[i] = true
		f.Train = append(f.Train, keys[i])
	}
	for i, k := range keys {
		if !inTrain[i] {
			f.Val = append(f.Val, k)
		}
	}
	return f, nil
}

// Select returns fold f of folds, or Random8020(ids, f) when the folds do
// not reach f (upstream's do_split).
func Select(folds []Fold, f int, ids []string) (Fold, error) {
	if f < 0 {
		return Fold{}, fmt.Errorf("fold %d is negative", f)
	}
	if f < len(folds) {
		return folds[f], nil
	}
	return Random8020(ids, f)
}

func strs(v []string) []any {
	out := make([]any, len(v))
	for i, s := range v {
		out[i] = s
	}
	return out
}

// Marshal encodes folds as upstream's splits_final.json (a list of
// {"train": [...], "val": [...]}, sort_keys=True, indent 4).
func Marshal(folds []Fold) ([]byte, error) {
	return pyjson.Marshal(toJSON(folds), pyjson.Options{Indent: 4, SortKeys: true})
}

func toJSON(folds []Fold) []any {
	out := make([]any, len(folds))
	for i, f := range folds {
		o := pyjson.NewObject()
		o.Set("train", strs(f.Train))
		o.Set("val", strs(f.Val))
		out[i] = o
	}
	return out
}

// Save writes folds to path as splits_final.json.
func Save(path string, folds []Fold) error {
	if err := pyjson.WriteFile(path, toJSON(folds), pyjson.Options{Indent: 4, SortKeys: true}); err != nil {
		return fmt.Errorf("save splits: %w", err)
	}
	return nil
}

// Load reads a splits file: a non-empty list of objects with "train" and
// "val" lists of case identifiers.
func Load(path string) ([]Fold, error) {
	v, err := pyjson.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read splits: %w", err)
	}
	l, ok := v.([]any)
	if !ok || len(l) == 0 {
		return nil, fmt.Errorf("splits %s: want a non-empty list of {\"train\": [...], \"val\": [...]}, got %s", path, pyjson.TypeName(v))
	}
	folds := make([]Fold, len(l))
	for i, e := range l {
		o, ok := e.(*pyjson.Object)
		if !ok {
			return nil, fmt.Errorf("splits %s: fold %d: want an object, got %s", path, i, pyjson.TypeName(e))
		}
		for _, key := range []string{"train", "val"} {
			x, ok := o.Get(key)
			if !ok {
				return nil, fmt.Errorf("splits %s: fold %d: %q is missing", path, i, key)
			}
			ids, ok := x.([]any)
			if !ok {
				return nil, fmt.Errorf("splits %s: fold %d: %q: want a list of case identifiers, got %s", path, i, key, pyjson.TypeName(x))
			}
			out := make([]string, len(ids))
			for j, id := range ids {
				s, ok := id.(string)
				if !ok {
					return nil, fmt.Errorf("splits %s: fold %d: %q[%d]: want a string, got %s", path, i, key, j, pyjson.TypeName(id))
				}
				out[j] = s
			}
			if key == "train" {
				folds[i].Train = out
			} else {
				folds[i].Val = out
			}
		}
	}
	return folds, nil
}
