package evaluate

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nnrunner/nnrunner/pipeline/stage"
	"github.com/nnrunner/nnrunner/stages/pyjson"
)

// OutputSummary is the stage's output name.
const OutputSummary = "summary"

// DefaultFileEnding is used when neither file_ending nor dataset_json says
// otherwise.
const DefaultFileEnding = ".nii.gz"

// Stage is the `evaluate` workflow stage (nnUNetv2_evaluate_folder).
type Stage struct{}

// New returns the evaluate stage.
func New() *Stage { return &Stage{} }

// Spec describes the stage.
func (s *Stage) Spec() stage.Spec {
	return stage.Spec{
		Type:    "evaluate",
		Version: 1,
		Doc:     "Compare predicted segmentations with reference labels and write upstream's summary.json (Dice, IoU, TP/FP/FN/TN per case and class), like nnUNetv2_evaluate_folder.",
		Params: []stage.Param{
			{Name: "predictions", Kind: stage.Path, Required: true, Doc: "folder of predicted segmentations (<case><file_ending>)"},
			{Name: "labels", Kind: stage.Path, Required: true, Doc: "folder of reference segmentations with the same file names (e.g. a dataset's labelsTs)"},
			{Name: "dataset_json", Kind: stage.Path, Doc: "dataset.json giving the labels or regions, the ignore label and the file ending"},
			{Name: "classes", Kind: stage.Ints, Doc: "label values to evaluate when no dataset_json is given (nnUNetv2_evaluate_simple -l)"},
			{Name: "ignore_label", Kind: stage.Int, Doc: "ignore label when no dataset_json is given"},
			{Name: "file_ending", Kind: stage.String, Default: "", Doc: "file ending of the segmentations; empty means dataset.json's, else .nii.gz"},
			{Name: "chill", Kind: stage.Bool, Default: false, Doc: "evaluate only the predictions present instead of requiring one per reference (upstream --chill)"},
		},
	}
}

// Outputs lists summary.json.
func (s *Stage) Outputs(with stage.Values) ([]stage.Output, error) {
	return []stage.Output{{Name: OutputSummary, Path: SummaryFile, Doc: "upstream's summary.json: metric_per_case, mean, foreground_mean"}}, nil
}

// Run evaluates the prediction folder and writes summary.json.
func (s *Stage) Run(ctx context.Context, req *stage.Request) error {
	opt, pred, ref, err := options(req)
	if err != nil {
		return err
	}
	sum, err := Folder(ctx, pred, ref, opt)
	if err != nil {
		return err
	}
	if err := sum.WriteFile(filepath.Join(req.OutDir, SummaryFile)); err != nil {
		return err
	}
	if req.Log != nil {
		req.Log.Info("evaluation done", "cases", len(sum.Cases), "foreground_mean_dice", sum.MeanDice())
		for _, line := range strings.Split(strings.TrimRight(sum.Table(), "\n"), "\n") {
			req.Log.Info(line)
		}
	}
	return nil
}

// options resolves the stage parameters into FolderOptions.
func options(req *stage.Request) (FolderOptions, string, string, error) {
	var opt FolderOptions
	w := req.With
	pred, err := w.String("predictions")
	if err != nil {
		return opt, "", "", err
	}
	ref, err := w.String("labels")
	if err != nil {
		return opt, "", "", err
	}
	if w.Has("chill") {
		if opt.Chill, err = w.Bool("chill"); err != nil {
			return opt, "", "", err
		}
	}
	if w.Has("file_ending") {
		if opt.FileEnding, err = w.String("file_ending"); err != nil {
			return opt, "", "", err
		}
	}
	opt.Workers = req.Threads
	switch {
	case w.Has("dataset_json"):
		if w.Has("classes") || w.Has("ignore_label") {
			return opt, "", "", fmt.Errorf("give either dataset_json or classes/ignore_label, not both")
		}
		path, err := w.String("dataset_json")
		if err != nil {
			return opt, "", "", err
		}
		info, err := ReadDatasetJSON(path)
		if err != nil {
			return opt, "", "", err
		}
		opt.Classes, opt.Ignore = info.Classes, info.Ignore
		if opt.FileEnding == "" {
			opt.FileEnding = info.FileEnding
		}
	case w.Has("classes"):
		labels, err := w.Ints("classes")
		if err != nil {
			return opt, "", "", err
		}
		for _, v := range labels {
			opt.Classes = append(opt.Classes, Label(v))
		}
		if w.Has("ignore_label") {
			v, err := w.Int("ignore_label")
			if err != nil {
				return opt, "", "", err
			}
			opt.Ignore = IgnoreLabel(v)
		}
	default:
		return opt, "", "", fmt.Errorf("name the labels to evaluate: set dataset_json (the dataset's dataset.json) or classes (a list of label values)")
	}
	if opt.FileEnding == "" {
		opt.FileEnding = DefaultFileEnding
	}
	return opt, pred, ref, nil
}

// DatasetInfo is what evaluation takes from a dataset.json.
type DatasetInfo struct {
	// Classes are the foreground labels (sorted) or, for a region-based
	// dataset, the foreground regions in declaration order.
	Classes    []Class
	Ignore     Ignore
	FileEnding string
}

// ReadDatasetJSON reads the labels, regions, ignore label and file ending
// of a dataset.json as upstream's LabelManager interprets them.
func ReadDatasetJSON(path string) (*DatasetInfo, error) {
	obj, err := pyjson.ReadObject(path)
	if err != nil {
		return nil, fmt.Errorf("read dataset.json: %w", err)
	}
	info, err := datasetInfo(obj)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return info, nil
}

func datasetInfo(obj *pyjson.Object) (*DatasetInfo, error) {
	info := &DatasetInfo{FileEnding: DefaultFileEnding}
	if v, ok := obj.Get("file_ending"); ok {
		s, isStr := v.(string)
		if !isStr || s == "" {
			return nil, fmt.Errorf("file_ending: want a string such as %q, got %v", DefaultFileEnding, v)
		}
		info.FileEnding = s
	}
	v, ok := obj.Get("labels")
	if !ok {
		return nil, fmt.Errorf(`"labels" is missing`)
	}
	lo, ok := v.(*pyjson.Object)
	if !ok {
		return nil, fmt.Errorf("labels: want an object name -> label value(s)")
	}
	type entry struct {
		values []int
		list   bool
	}
	var entries []entry
	regionBased := false
	for name, raw := range lo.All() {
		var e entry
		switch x := raw.(type) {
		case int64:
			e.values = []int{int(x)}
		case []any:
			e.list = true
			for _, el := range x {
				n, isInt := el.(int64)
				if !isInt {
					return nil, fmt.Errorf("labels[%q]: %v is not an integer label", name, el)
				}
				e.values = append(e.values, int(n))
			}
			if len(e.values) == 0 {
				return nil, fmt.Errorf("labels[%q]: empty list", name)
			}
		default:
			return nil, fmt.Errorf("labels[%q]: want an integer or a list of integers, got %v", name, raw)
		}
		if name == "ignore" {
			if e.list {
				return nil, fmt.Errorf(`labels["ignore"]: want a single integer`)
			}
			info.Ignore = IgnoreLabel(e.values[0])
			continue
		}
		if len(e.values) > 1 {
			regionBased = true
		}
		entries = append(entries, e)
	}
	if regionBased {
		// LabelManager._get_regions: declaration order, background-only
		// entries skipped, lists become tuples.
		for _, e := range entries {
			u := slices.Compact(slices.Sorted(slices.Values(e.values)))
			if len(u) == 1 && u[0] == 0 {
				continue
			}
			info.Classes = append(info.Classes, Class{Labels: e.values, Region: e.list})
		}
	} else {
		var all []int
		for _, e := range entries {
			all = append(all, e.values...)
		}
		slices.Sort(all)
		for _, v := range slices.Compact(all) {
			if v != 0 {
				info.Classes = append(info.Classes, Label(v))
			}
		}
	}
	if len(info.Classes) == 0 {
		return nil, fmt.Errorf("labels: no foreground label to evaluate")
	}
	return info, nil
}
