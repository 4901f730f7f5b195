package train

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/nnrunner/nnrunner/pipeline/stage"
	"github.com/nnrunner/nnrunner/stages/dataloader"
	"github.com/nnrunner/nnrunner/stages/plans"
	"github.com/nnrunner/nnrunner/stages/pyjson"
	"github.com/nnrunner/nnrunner/stages/splits"
)

// Stage type names.
const (
	TypeTrain    = "train"
	TypePretrain = "pretrain"
	TypeFinetune = "finetune"
)

// Output names and paths of the training stages.
const (
	OutputCheckpoint = "checkpoint"
	OutputBest       = "best"
	OutputDir        = "dir"
	// FolderName is the training folder inside the stage's output.
	FolderName = "training"
	// datasetFile is the dataset.json the preprocess stage copies into its data folder.
	datasetFile = "dataset.json"
)

// Stage is one of the training stage types.
type Stage struct {
	typ string
}

// NewTrain returns the `train` stage: any fold, from scratch.
func NewTrain() *Stage { return &Stage{typ: TypeTrain} }

// NewPretrain returns the `pretrain` stage: fold all, from scratch.
func NewPretrain() *Stage { return &Stage{typ: TypePretrain} }

// NewFinetune returns the `finetune` stage: any fold, from pretrained
// weights.
func NewFinetune() *Stage { return &Stage{typ: TypeFinetune} }

// Spec describes the stage type.
func (s *Stage) Spec() stage.Spec {
	ps := commonParams()
	doc := ""
	switch s.typ {
	case TypePretrain:
		ps = append(ps, stage.Param{Name: "fold", Kind: stage.String, Default: "all", Enum: []string{"all"}, Doc: "always all: train on every case"})
		doc = "Pretrain nnU-Net on every case (fold all) from scratch; its checkpoint feeds finetune."
	case TypeFinetune:
		ps = append(ps, stage.Param{Name: "fold", Kind: stage.String, Default: "0", Doc: "all, or a fold number of the splits"})
		ps = append(ps, finetuneParams()...)
		doc = "Train nnU-Net from pretrained weights (all but the segmentation heads), with optional warm-up and encoder freezing."
	default:
		ps = append(ps, stage.Param{Name: "fold", Kind: stage.String, Default: "0", Doc: "all, or a fold number of the splits"})
		doc = "Train nnU-Net (nnUNetTrainer) from scratch on one fold."
	}
	return stage.Spec{Type: s.typ, Version: 1, Doc: doc, Params: ps, Resume: true}
}

// Outputs lists the final and best checkpoints and the training folder.
func (s *Stage) Outputs(stage.Values) ([]stage.Output, error) {
	return []stage.Output{
		{Name: OutputCheckpoint, Path: FolderName + "/" + FinalName + WeightsSuffix, Doc: "final weights (safetensors; sidecar " + FinalName + SidecarSuffix + " next to it)"},
		{Name: OutputBest, Path: FolderName + "/" + BestName + WeightsSuffix, Doc: "weights of the best EMA pseudo Dice"},
		{Name: OutputDir, Path: FolderName, Doc: "training folder: checkpoints, training_log.txt, progress.png, validation/summary.json"},
	}, nil
}

// Run trains, or continues an interrupted training when req.Resumed.
func (s *Stage) Run(ctx context.Context, req *stage.Request) error {
	o, err := parseOptions(req.With, req.Threads)
	if err != nil {
		return err
	}
	setup, err := s.setup(req.With)
	if err != nil {
		return err
	}
	dir := filepath.Join(req.OutDir, FolderName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if setup.Fold != "all" && !req.With.Has("splits") {
		ids, err := dataloader.ListCases(setup.DataDir)
		if err != nil {
			return err
		}
		folds, err := splits.Default(ids)
		if err == nil {
			err = splits.Save(filepath.Join(dir, "splits_final.json"), folds)
		}
		if err != nil {
			return err
		}
	}
	return Train(ctx, req.Log, dir, setup, o, req.Resumed)
}

// setup resolves plans, configuration, labels, cases and the fold.
func (s *Stage) setup(w stage.Values) (Setup, error) {
	var st Setup
	pre, err := w.String("preprocessed")
	if err != nil {
		return st, err
	}
	plansPath, err := w.String("plans")
	if err != nil {
		return st, err
	}
	if st.ConfigName, err = w.String("configuration"); err != nil {
		return st, err
	}
	if st.Plans, err = plans.Load(plansPath); err != nil {
		return st, err
	}
	if st.Config, err = st.Plans.Configuration(st.ConfigName); err != nil {
		return st, err
	}
	st.InputChannels = len(st.Config.NormalizationSchemes)
	if st.NumClasses, err = readNumClasses(filepath.Join(pre, datasetFile)); err != nil {
		return st, err
	}
	st.DataDir = filepath.Join(pre, st.Config.DataIdentifier)
	if fi, err := os.Stat(st.DataDir); err != nil || !fi.IsDir() {
		return st, fmt.Errorf("preprocessed data for configuration %s: %s is missing; preprocess with these plans and this configuration first", st.ConfigName, st.DataDir)
	}
	ids, err := dataloader.ListCases(st.DataDir)
	if err != nil {
		return st, err
	}
	st.Fold = "all"
	if w.Has("fold") {
		if st.Fold, err = w.String("fold"); err != nil {
			return st, err
		}
	}
	if s.typ == TypePretrain && st.Fold != "all" {
		return st, fmt.Errorf("pretrain trains on fold all, got fold %q", st.Fold)
	}
	if st.Fold == "all" {
		st.TrainIDs, st.ValIDs = ids, ids
	} else {
		f, err := strconv.Atoi(st.Fold)
		if err != nil || f < 0 {
			return st, fmt.Errorf("parameter \"fold\" is %q, want all or a fold number", st.Fold)
		}
		var folds []splits.Fold
		if w.Has("splits") {
			p, err := w.String("splits")
			if err != nil {
				return st, err
			}
			if folds, err = splits.Load(p); err != nil {
				return st, err
			}
		} else if folds, err = splits.Default(ids); err != nil {
			return st, err
		}
		fold, err := splits.Select(folds, f, ids)
		if err != nil {
			return st, err
		}
		for _, id := range append(append([]string(nil), fold.Train...), fold.Val...) {
			if _, found := slices.BinarySearch(ids, id); !found {
				return st, fmt.Errorf("splits: case %q of fold %d is not in %s", id, f, st.DataDir)
			}
		}
		if len(fold.Train) == 0 || len(fold.Val) == 0 {
			return st, fmt.Errorf("splits: fold %d has %d training and %d validation cases; both must be non-empty", f, len(fold.Train), len(fold.Val))
		}
		st.TrainIDs, st.ValIDs = fold.Train, fold.Val
	}
	if s.typ == TypeFinetune {
		if st.Pretrained, err = w.String("pretrained"); err != nil {
			return st, err
		}
	}
	return st, nil
}

// readNumClasses returns the number of segmentation heads declared by a
// dataset.json: the largest label value + 1. Region-based and ignore-label
// datasets are rejected: the trainer implements the label mode only.
func readNumClasses(path string) (int, error) {
	o, err := pyjson.ReadObject(path)
	if err != nil {
		return 0, fmt.Errorf("read labels: %w", err)
	}
	v, ok := o.Get("labels")
	lo, isObj := v.(*pyjson.Object)
	if !ok || !isObj {
		return 0, fmt.Errorf("read labels: %s has no \"labels\" mapping", path)
	}
	maxLabel := -1
	for name, val := range lo.All() {
		n, isInt := val.(int64)
		if !isInt {
			return 0, fmt.Errorf("read labels: %s label %q is %v; region-based training is not supported", path, name, val)
		}
		if name == "ignore" {
			return 0, fmt.Errorf("read labels: %s declares an ignore label; training with an ignore label is not supported", path)
		}
		maxLabel = max(maxLabel, int(n))
	}
	if maxLabel < 1 {
		return 0, fmt.Errorf("read labels: %s declares no foreground label", path)
	}
	return maxLabel + 1, nil
}
