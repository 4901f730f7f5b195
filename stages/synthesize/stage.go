package synthesize

import (
	"context"
	"fmt"
	"strings"

	"github.com/nnrunner/nnrunner/pipeline/stage"
)

// OutputDataset is the name of the stage's output: the raw dataset folder.
const OutputDataset = "dataset"

// Stage is the `synthesize` workflow stage.
type Stage struct{}

// New returns the synthesize stage.
func New() *Stage { return &Stage{} }

// Spec describes the stage.
func (s *Stage) Spec() stage.Spec {
	return stage.Spec{
		Type:    "synthesize",
		Version: 1,
		Doc:     "Generate a deterministic synthetic nnU-Net raw dataset (CT- or MR-like volumes with body, organ and lesion labels).",
		Params: []stage.Param{
			{Name: "name", Kind: stage.String, Default: "Dataset900_Synthetic", Doc: "dataset folder name (DatasetNNN_Name)"},
			{Name: "modality", Kind: stage.String, Default: "CT", Enum: []string{"CT", "MR"}, Doc: "intensity model: CT (int16 HU) or MR (float32, bias field)"},
			{Name: "prefix", Kind: stage.String, Default: "", Doc: "case identifier prefix; empty means synthct or synthmr"},
			{Name: "cases", Kind: stage.Int, Default: int64(12), Doc: "training cases (imagesTr/labelsTr)"},
			{Name: "test_cases", Kind: stage.Int, Default: int64(4), Doc: "held-out cases (imagesTs/labelsTs)"},
			{Name: "seed", Kind: stage.Int, Default: int64(0), Doc: "random seed; equal parameters give byte-identical datasets"},
			{Name: "shape", Kind: stage.Ints, Default: []any{int64(64), int64(64), int64(24)}, Doc: "nominal voxels per axis, file order x, y, z"},
			{Name: "spacing", Kind: stage.Any, Default: []any{0.8, 0.8, 3.0}, Doc: "nominal voxel size in mm, file order x, y, z (anisotropic by default)"},
			{Name: "jitter", Kind: stage.Float, Default: 0.1, Doc: "relative per-case variation of shape and spacing, 0 to <0.5"},
			{Name: "lesions", Kind: stage.Bool, Default: true, Doc: "add a lesion label (2) inside every organ (1)"},
			{Name: "channels", Kind: stage.Int, Default: int64(1), Doc: "image channels: 1, or 2 for MR (T2 and an ADC-like map)"},
		},
	}
}

// Outputs lists the dataset folder.
func (s *Stage) Outputs(with stage.Values) ([]stage.Output, error) {
	cfg, err := configFrom(with)
	if err != nil {
		return nil, err
	}
	return []stage.Output{{Name: OutputDataset, Path: cfg.Name, Doc: "nnU-Net raw dataset: dataset.json, imagesTr, labelsTr, imagesTs, labelsTs"}}, nil
}

// Run generates the dataset into req.OutDir.
func (s *Stage) Run(ctx context.Context, req *stage.Request) error {
	cfg, err := configFrom(req.With)
	if err != nil {
		return err
	}
	root, err := Generate(ctx, req.OutDir, cfg, req.Threads)
	if err != nil {
		return err
	}
	if req.Log != nil {
		req.Log.Info("synthetic dataset written", "path", root, "modality", cfg.Modality,
			"train", cfg.Train, "test", cfg.Test, "seed", cfg.Seed)
	}
	return nil
}

// configFrom builds and validates a Config from stage parameters.
func configFrom(with stage.Values) (Config, error) {
	var cfg Config
	name, err := with.String("name")
	if err != nil {
		return cfg, err
	}
	modality, err := with.String("modality")
	if err != nil {
		return cfg, err
	}
	prefix, err := with.String("prefix")
	if err != nil {
		return cfg, err
	}
	if prefix == "" {
		prefix = "synth" + strings.ToLower(modality)
	}
	train, err := with.Int("cases")
	if err != nil {
		return cfg, err
	}
	test, err := with.Int("test_cases")
	if err != nil {
		return cfg, err
	}
	seed, err := with.Int("seed")
	if err != nil {
		return cfg, err
	}
	if seed < 0 {
		return cfg, fmt.Errorf("parameter \"seed\": want a non-negative integer, got %d", seed)
	}
	shape, err := with.Ints("shape")
	if err != nil {
		return cfg, err
	}
	if len(shape) != 3 {
		return cfg, fmt.Errorf("parameter \"shape\": want 3 integers (x, y, z), got %v", shape)
	}
	spacing, err := floats(with, "spacing")
	if err != nil {
		return cfg, err
	}
	jitter, err := with.Float("jitter")
	if err != nil {
		return cfg, err
	}
	lesions, err := with.Bool("lesions")
	if err != nil {
		return cfg, err
	}
	channels, err := with.Int("channels")
	if err != nil {
		return cfg, err
	}
	cfg = Config{
		Name: name, Modality: Modality(modality), Prefix: prefix,
		Train: train, Test: test, Seed: uint64(seed),
		Shape:   [3]int{shape[0], shape[1], shape[2]},
		Spacing: spacing, Jitter: jitter, Lesions: lesions, Channels: channels,
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("synthesize: %w", err)
	}
	return cfg, nil
}

// floats reads a list of three numbers.
func floats(with stage.Values, name string) ([3]float64, error) {
	var out [3]float64
	l, ok := with[name].([]any)
	if !ok || len(l) != 3 {
		return out, fmt.Errorf("parameter %q: want a list of 3 numbers (x, y, z), got %v", name, with[name])
	}
	for i, e := range l {
		switch n := e.(type) {
		case float64:
			out[i] = n
		case int64:
			out[i] = float64(n)
		case int:
			out[i] = float64(n)
		default:
			return out, fmt.Errorf("parameter %q[%d]: want a number, got %v (%T)", name, i, e, e)
		}
	}
	return out, nil
}
