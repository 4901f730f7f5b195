package predict

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nnrunner/nnrunner/pipeline/stage"
	"github.com/nnrunner/nnrunner/stages/evaluate"
	"github.com/nnrunner/nnrunner/stages/plans"
	"github.com/nnrunner/nnrunner/stages/pyjson"
)

// OutputPredictions is the stage's output: a folder of segmentations.
const OutputPredictions = "predictions"

// DefaultFileEnding is used when no dataset_json gives one.
const DefaultFileEnding = ".nii.gz"

// Stage is the `predict` workflow stage (nnUNetv2_predict).
type Stage struct{}

// New returns the predict stage.
func New() *Stage { return &Stage{} }

// Spec describes the stage.
func (s *Stage) Spec() stage.Spec {
	return stage.Spec{
		Type:    "predict",
		Version: 1,
		Doc:     "Segment raw images with trained checkpoints (one, or an ensemble averaged), like nnUNetv2_predict: preprocessing, sliding-window inference with Gaussian weighting and mirroring, and the inverse of preprocessing.",
		Params: []stage.Param{
			{Name: "images", Kind: stage.Path, Required: true, Doc: "folder of <case>_0000<file_ending> channel files (e.g. a dataset's imagesTs)"},
			{Name: "checkpoint", Kind: stage.Paths, Required: true, Doc: "checkpoint weights (.safetensors) of a training stage; several are ensembled by averaging their logits"},
			{Name: "plans", Kind: stage.Path, Required: true, Doc: "plans file the checkpoints were trained with"},
			{Name: "configuration", Kind: stage.String, Default: "3d_fullres", Doc: "plans configuration"},
			{Name: "mirroring", Kind: stage.Bool, Default: true, Doc: "test-time mirroring over the axes the trainer allowed (upstream default on; --disable_tta turns it off)"},
			{Name: "step_size", Kind: stage.Float, Default: 0.5, Doc: "sliding-window step as a fraction of the patch size"},
			{Name: "dataset_json", Kind: stage.Path, Doc: "dataset.json of the training data: file ending, channel and label counts are checked against the checkpoint"},
		},
	}
}

// Outputs lists the predictions folder.
func (s *Stage) Outputs(stage.Values) ([]stage.Output, error) {
	return []stage.Output{{Name: OutputPredictions, Path: OutputPredictions, Doc: "one <case><file_ending> segmentation per input case, on the input's grid"}}, nil
}

// Run predicts every case of the images folder.
func (s *Stage) Run(ctx context.Context, req *stage.Request) error {
	w := req.With
	images, err := w.String("images")
	if err != nil {
		return err
	}
	ckPaths, err := w.Strings("checkpoint")
	if err != nil {
		return err
	}
	plansPath, err := w.String("plans")
	if err != nil {
		return err
	}
	opt := Options{Workers: req.Threads, Log: req.Log, Mirroring: true}
	if opt.Configuration, err = w.String("configuration"); err != nil {
		return err
	}
	if w.Has("mirroring") {
		if opt.Mirroring, err = w.Bool("mirroring"); err != nil {
			return err
		}
	}
	if w.Has("step_size") {
		if opt.StepSize, err = w.Float("step_size"); err != nil {
			return err
		}
	}
	p, err := plans.Load(plansPath)
	if err != nil {
		return err
	}
	cks := make([]*Checkpoint, len(ckPaths))
	for i, path := range ckPaths {
		if cks[i], err = ReadCheckpoint(path); err != nil {
			return err
		}
	}
	pr, err := NewPredictor(p, cks, opt)
	if err != nil {
		return err
	}
	defer pr.Close()
	ending := DefaultFileEnding
	if w.Has("dataset_json") {
		path, err := w.String("dataset_json")
		if err != nil {
			return err
		}
		if ending, err = checkDataset(path, pr); err != nil {
			return err
		}
	}
	out := filepath.Join(req.OutDir, OutputPredictions)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	n, err := pr.PredictFolder(ctx, images, out, ending)
	if err != nil {
		return err
	}
	if req.Log != nil {
		req.Log.Info("prediction done", "cases", n, "checkpoints", len(cks), "mirroring", opt.Mirroring)
	}
	return nil
}

// checkDataset compares a dataset.json with the predictor and returns its
// file ending.
func checkDataset(path string, pr *Predictor) (string, error) {
	info, err := evaluate.ReadDatasetJSON(path)
	if err != nil {
		return "", err
	}
	obj, err := pyjson.ReadObject(path)
	if err != nil {
		return "", err
	}
	for _, key := range []string{"channel_names", "modality"} {
		if v, ok := obj.Get(key); ok {
			if o, isObj := v.(*pyjson.Object); isObj && o.Len() != pr.Channels() {
				return "", fmt.Errorf("%s declares %d channel(s) but the checkpoint takes %d: the checkpoint belongs to another dataset", path, o.Len(), pr.Channels())
			}
			break
		}
	}
	for _, c := range info.Classes {
		if c.Region {
			return "", fmt.Errorf("%s declares regions; predict supports label-based datasets (softmax and argmax) only", path)
		}
	}
	if want := len(info.Classes) + 1; want != pr.Classes() {
		return "", fmt.Errorf("%s declares %d labels with background but the checkpoint predicts %d classes: the checkpoint belongs to another dataset", path, want, pr.Classes())
	}
	return info.FileEnding, nil
}
