// Package plan implements upstream nnU-Net's default ExperimentPlanner
// (spec §4-§5) and the `plan` stage type, which writes <plans_name>.json,
// the cross-validation splits and a copy of the raw dataset.json.
//
//	plan:
//	  type: plan
//	  with:
//	    dataset: ${datasets.finetune}          # raw dataset folder
//	    fingerprint: ${fingerprint.fingerprint}
//	    plans_name: nnUNetPlans
//	    gpu_memory_target_gb: 8
//	    configurations: [2d, 3d_fullres]       # default: all the planner makes
//	    overrides: {batch_size: 2, patch_size: [32, 64, 64], features_base: 16, features_max: 128}
//
// Overrides replace the planner's derived values before the topology is
// computed (patch_size: transposed axis order, padded to the pooling
// divisor, no shrinking; features_base/features_max: features per stage;
// batch_size: every configuration) and are recorded in the plans under
// "nnrunner_overrides", so a transfer carries them.
package plan

import (
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/nnrunner/nnrunner/pipeline/stage"
	"github.com/nnrunner/nnrunner/stages/plans"
	"github.com/nnrunner/nnrunner/stages/pyjson"
	"github.com/nnrunner/nnrunner/stages/splits"
)

// Version is the implementation version of the plan stage.
const Version = 1

// Output names and files.
const (
	OutPlans       = "plans"
	OutSplits      = "splits"
	OutDatasetJSON = "dataset_json"
	SplitsFile     = "splits_final.json"
	DatasetFile    = "dataset.json"
)

// Stage is the plan stage type.
type Stage struct{}

// New returns the plan stage type.
func New() *Stage { return &Stage{} }

// Spec describes the plan stage type.
func (*Stage) Spec() stage.Spec {
	return stage.Spec{
		Type:    "plan",
		Version: Version,
		Doc:     "Plan the experiment as upstream nnU-Net's default ExperimentPlanner (nnUNetv2_plan_experiment): <plans_name>.json, splits_final.json and dataset.json.",
		Params: []stage.Param{
			{Name: "dataset", Kind: stage.Path, Required: true, Doc: "raw dataset folder (dataset.json, imagesTr, labelsTr); its name becomes dataset_name"},
			{Name: "fingerprint", Kind: stage.Path, Required: true, Doc: "dataset_fingerprint.json of this dataset (or the folder holding it)"},
			{Name: "plans_name", Kind: stage.String, Default: plans.DefaultPlansName, Doc: "plans identifier and data_identifier prefix"},
			{Name: "gpu_memory_target_gb", Kind: stage.Float, Default: float64(DefaultGPUMemoryTargetGB), Doc: "GPU memory the patch and batch size are sized for"},
			{Name: "overwrite_target_spacing", Kind: stage.Any, Doc: "3 floats in file axis order replacing the derived fullres target spacing"},
			{Name: "configurations", Kind: stage.Strings, Doc: "configurations to write among 2d, 3d_fullres, 3d_lowres (default: all that apply)"},
			{Name: "overrides", Kind: stage.Object, Doc: "{batch_size, patch_size, features_base, features_max} replacing derived values; recorded in the plans"},
		},
	}
}

// Outputs returns plans (<plans_name>.json), splits and dataset_json.
func (*Stage) Outputs(with stage.Values) ([]stage.Output, error) {
	name, err := plansName(with)
	if err != nil {
		return nil, err
	}
	return []stage.Output{
		{Name: OutPlans, Path: name + ".json", Doc: "nnU-Net plans"},
		{Name: OutSplits, Path: SplitsFile, Doc: "5-fold cross-validation splits (the raw dataset's own splits_final.json when it has one)"},
		{Name: OutDatasetJSON, Path: DatasetFile, Doc: "the raw dataset.json, copied unchanged"},
	}, nil
}

// plansName returns the plans_name parameter, checked to be a plain file
// name.
func plansName(with stage.Values) (string, error) {
	name := plans.DefaultPlansName
	if with.Has("plans_name") {
		var err error
		if name, err = with.String("plans_name"); err != nil {
			return "", err
		}
	}
	if err := plans.CheckName(name, plans.DefaultPlansName); err != nil {
		return "", err
	}
	return name, nil
}

// Run plans the dataset and writes the outputs. Nothing is written when
// any input is rejected.
func (*Stage) Run(ctx context.Context, req *stage.Request) error {
	opt, err := options(req.With)
	if err != nil {
		return err
	}
	dir, err := req.With.String("dataset")
	if err != nil {
		return err
	}
	fpPath, err := req.With.String("fingerprint")
	if err != nil {
		return err
	}
	in, err := LoadInputs(dir, fpPath)
	if err != nil {
		return err
	}
	if in.Dataset.ReaderWriter != "" && in.Dataset.ReaderWriter != in.Info.ImageReaderWriter {
		req.Log.Warn("unknown overwrite_image_reader_writer in dataset.json; chose by file ending",
			"requested", in.Dataset.ReaderWriter, "using", in.Info.ImageReaderWriter)
	}
	if in.Dataset.NumTraining != len(in.Dataset.Cases) {
		req.Log.Warn("numTraining differs from the number of cases; the planner uses numTraining as upstream does",
			"numTraining", in.Dataset.NumTraining, "cases", len(in.Dataset.Cases))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := Plan(in.Info, in.Fingerprint, opt, req.Log)
	if err != nil {
		return fmt.Errorf("plan %s: %w", dir, err)
	}
	splitsJSON, err := datasetSplits(dir, in.CaseIDs())
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := p.Save(filepath.Join(req.OutDir, opt.PlansName+".json")); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(req.OutDir, SplitsFile), splitsJSON, 0o644); err != nil {
		return fmt.Errorf("write splits: %w", err)
	}
	if err := copyFile(filepath.Join(req.OutDir, DatasetFile), filepath.Join(dir, DatasetFile)); err != nil {
		return fmt.Errorf("copy dataset.json: %w", err)
	}
	for _, name := range p.ConfigurationNames() {
		c, err := p.Configuration(name)
		if err != nil {
			return err
		}
		req.Log.Info("planned configuration", "configuration", name, "patch_size", c.PatchSize,
			"batch_size", c.BatchSize, "spacing", c.Spacing, "stages", c.Architecture.NStages)
	}
	return nil
}

// datasetSplits returns the splits file to write: the raw dataset's own
// splits_final.json byte for byte when it has one (upstream copies it; it
// must name only the dataset's cases), else upstream's default 5-fold split
// of the cases.
func datasetSplits(dir string, ids []string) ([]byte, error) {
	own := filepath.Join(dir, SplitsFile)
	ok, err := fileExists(own)
	if err != nil {
		return nil, err
	}
	if ok {
		folds, err := splits.Load(own)
		if err != nil {
			return nil, err
		}
		for i, f := range folds {
			for _, id := range slices.Concat(f.Train, f.Val) {
				if _, found := slices.BinarySearch(ids, id); !found {
					return nil, fmt.Errorf("%s: fold %d names case %q, which is not in the dataset; fix or remove the file", own, i, id)
				}
			}
		}
		return os.ReadFile(own)
	}
	folds, err := splits.Default(ids)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return splits.Marshal(folds)
}

// options reads the planning parameters.
func options(with stage.Values) (Options, error) {
	var opt Options
	var err error
	if opt.PlansName, err = plansName(with); err != nil {
		return opt, err
	}
	if with.Has("gpu_memory_target_gb") {
		if opt.GPUMemoryTargetGB, err = with.Float("gpu_memory_target_gb"); err != nil {
			return opt, err
		}
		if !(opt.GPUMemoryTargetGB > 0) || math.IsInf(opt.GPUMemoryTargetGB, 0) {
			return opt, fmt.Errorf("gpu_memory_target_gb must be a positive number, got %v", opt.GPUMemoryTargetGB)
		}
	}
	if v, ok := with["overwrite_target_spacing"]; ok && v != nil {
		l, isList := v.([]any)
		if !isList || len(l) != 3 {
			return opt, fmt.Errorf("overwrite_target_spacing: want 3 numbers (file axis order), got %v", v)
		}
		for i, x := range l {
			switch n := x.(type) {
			case float64:
				opt.OverwriteTargetSpacing = append(opt.OverwriteTargetSpacing, n)
			case int64:
				opt.OverwriteTargetSpacing = append(opt.OverwriteTargetSpacing, float64(n))
			case int:
				opt.OverwriteTargetSpacing = append(opt.OverwriteTargetSpacing, float64(n))
			default:
				return opt, fmt.Errorf("overwrite_target_spacing[%d]: want a number, got %v", i, x)
			}
		}
	}
	if with.Has("configurations") {
		if opt.Configurations, err = with.Strings("configurations"); err != nil {
			return opt, err
		}
		if len(opt.Configurations) == 0 {
			return opt, fmt.Errorf("configurations is empty; list at least one of 2d, 3d_fullres, 3d_lowres or leave it out")
		}
	}
	if with.Has("overrides") {
		m, err := with.Object("overrides")
		if err != nil {
			return opt, err
		}
		if opt.Overrides, err = plans.ParseOverrides(toObject(m), "overrides"); err != nil {
			return opt, err
		}
	}
	return opt, nil
}

// toObject converts a decoded YAML mapping to a JSON object (keys sorted,
// integers as int64) for the plans parsers.
func toObject(m map[string]any) *pyjson.Object {
	o := pyjson.NewObject()
	for _, k := range slices.Sorted(maps.Keys(m)) {
		o.Set(k, toJSONValue(m[k]))
	}
	return o
}

func toJSONValue(v any) any {
	switch x := v.(type) {
	case int:
		return int64(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = toJSONValue(e)
		}
		return out
	case map[string]any:
		return toObject(x)
	}
	return v
}
