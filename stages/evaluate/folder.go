package evaluate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/nnrunner/nnrunner/stages/imageio"
)

// FolderOptions configures the evaluation of a folder of predictions.
type FolderOptions struct {
	// FileEnding selects the files compared (e.g. ".nii.gz").
	FileEnding string
	// Classes are the labels or regions evaluated.
	Classes []Class
	// Ignore is the dataset's ignore label, if any.
	Ignore Ignore
	// Chill evaluates only the predictions present, as upstream's --chill;
	// otherwise every reference file needs a prediction.
	Chill bool
	// Workers bounds the cases read at once; GOMAXPROCS when < 1.
	Workers int
}

// Folder evaluates every prediction in predDir against the reference of
// the same name in refDir, like compute_metrics_on_folder. Cases are in
// sorted file-name order; prediction_file and reference_file are the paths
// joined from the folders given.
func Folder(ctx context.Context, predDir, refDir string, opt FolderOptions) (*Summary, error) {
	if opt.FileEnding == "" {
		return nil, fmt.Errorf("evaluate: no file ending given")
	}
	if len(opt.Classes) == 0 {
		return nil, fmt.Errorf("evaluate: no labels or regions to evaluate")
	}
	if k, dup := duplicateKey(opt.Classes); dup {
		return nil, fmt.Errorf("evaluate: class %s is listed twice", k)
	}
	preds, err := listFiles(predDir, opt.FileEnding)
	if err != nil {
		return nil, fmt.Errorf("predictions: %w", err)
	}
	refs, err := listFiles(refDir, opt.FileEnding)
	if err != nil {
		return nil, fmt.Errorf("references: %w", err)
	}
	if len(preds) == 0 {
		return nil, fmt.Errorf("evaluate: no *%s files in the prediction folder %s", opt.FileEnding, predDir)
	}
	if missing := difference(preds, refs); len(missing) > 0 {
		return nil, fmt.Errorf("evaluate: %d prediction(s) have no reference segmentation in %s: %s", len(missing), refDir, listNames(missing))
	}
	if !opt.Chill {
		if missing := difference(refs, preds); len(missing) > 0 {
			return nil, fmt.Errorf("evaluate: %d reference case(s) have no prediction in %s: %s (predict every case, or set chill: true to evaluate only the predictions present)",
				len(missing), predDir, listNames(missing))
		}
	}
	workers := opt.Workers
	if workers < 1 {
		workers = runtime.GOMAXPROCS(0)
	}
	cases := make([]Case, len(preds))
	errs := make([]error, len(preds))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, len(preds)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := ctx.Err(); err != nil {
					errs[i] = err
					continue
				}
				p, r := filepath.Join(predDir, preds[i]), filepath.Join(refDir, preds[i])
				counts, err := countFiles(p, r, opt.Classes, opt.Ignore)
				cases[i], errs[i] = Case{Prediction: p, Reference: r, Counts: counts}, err
			}
		}()
	}
	for i := range preds {
		work <- i
	}
	close(work)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return Summarize(opt.Classes, cases)
}

// countFiles reads one prediction and its reference and counts them.
func countFiles(predPath, refPath string, classes []Class, ignore Ignore) ([]Counts, error) {
	ref, err := imageio.ReadSeg(refPath)
	if err != nil {
		return nil, fmt.Errorf("read reference: %w", err)
	}
	pred, err := imageio.ReadSeg(predPath)
	if err != nil {
		return nil, fmt.Errorf("read prediction: %w", err)
	}
	if pred.Shape != ref.Shape {
		return nil, fmt.Errorf("prediction %s has shape %v but reference %s has %v (array order z,y,x): the prediction is not on the reference's grid",
			predPath, pred.Shape[1:], refPath, ref.Shape[1:])
	}
	if err := sameGrid(pred, ref); err != nil {
		return nil, fmt.Errorf("prediction %s and reference %s: %w", predPath, refPath, err)
	}
	p, err := labelValues(pred.Data)
	if err != nil {
		return nil, fmt.Errorf("prediction %s: %w", predPath, err)
	}
	r, err := labelValues(ref.Data)
	if err != nil {
		return nil, fmt.Errorf("reference %s: %w", refPath, err)
	}
	return Count(p, r, classes, ignore)
}

// gridTolerance is the absolute tolerance (mm) when comparing spacing and
// affines of a prediction and its reference; both come from float32
// header fields.
const gridTolerance = 1e-4

// sameGrid checks that two images lie on the same voxel grid: equal
// spacing and voxel-to-world affine within gridTolerance.
func sameGrid(a, b *imageio.Image) error {
	for i := range a.Spacing {
		if !near(a.Spacing[i], b.Spacing[i]) {
			return fmt.Errorf("spacing differs: %v vs %v", a.Spacing, b.Spacing)
		}
	}
	for i := range a.Geometry.Affine {
		for j := range a.Geometry.Affine[i] {
			if !near(a.Geometry.Affine[i][j], b.Geometry.Affine[i][j]) {
				return fmt.Errorf("voxel-to-world affine differs: %v vs %v", a.Geometry.Affine, b.Geometry.Affine)
			}
		}
	}
	return nil
}

func near(a, b float64) bool {
	return math.Abs(a-b) <= gridTolerance+1e-5*math.Abs(b)
}

// labelValues converts a label map read as float32 to integers, rejecting
// values that are not integer labels in [0, MaxLabel].
func labelValues(v []float32) ([]int32, error) {
	out := make([]int32, len(v))
	for i, x := range v {
		if x != float32(math.Trunc(float64(x))) || x < 0 || x > MaxLabel {
			return nil, fmt.Errorf("voxel %d holds %v, not an integer label in [0, %d]", i, x, MaxLabel)
		}
		out[i] = int32(x)
	}
	return out, nil
}

// listFiles returns the sorted names of the regular files in dir ending
// with ending (upstream subfiles(suffix=...)).
func listFiles(dir, ending string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ending) && !e.IsDir() {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out, nil
}

// difference returns the names in a that are not in b (both sorted).
func difference(a, b []string) []string {
	var out []string
	for _, n := range a {
		if _, found := slices.BinarySearch(b, n); !found {
			out = append(out, n)
		}
	}
	return out
}

// listNames joins up to 10 names for an error message.
func listNames(names []string) string {
	const show = 10
	if len(names) <= show {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:show], ", ") + fmt.Sprintf(", ... (%d more)", len(names)-show)
}

// duplicateKey reports two classes with the same summary key.
func duplicateKey(classes []Class) (string, bool) {
	seen := map[string]bool{}
	for _, c := range classes {
		k := c.Key()
		if seen[k] {
			return k, true
		}
		seen[k] = true
	}
	return "", false
}
