package train

import (
	"fmt"

	"github.com/nnrunner/nnrunner/pipeline/stage"
	"github.com/nnrunner/nnrunner/stages/nn/optim"
)

// Upstream nnUNetTrainer budget.
const (
	DefaultEpochs        = 1000
	DefaultIterations    = 250
	DefaultValIterations = 50
)

// Warm-up modes of a finetune.
const (
	WarmupAll     = "all"     // every parameter trains during the warm-up
	WarmupDecoder = "decoder" // the encoder is frozen during the warm-up
)

// Options are the training settings a workflow chooses.
type Options struct {
	Epochs          int     `json:"epochs"`
	Iterations      int     `json:"iterations_per_epoch"`
	ValIterations   int     `json:"val_iterations"`
	Seed            uint64  `json:"seed"`
	BatchSize       int     `json:"batch_size"` // 0: the plans' batch size
	InitialLR       float64 `json:"initial_lr"`
	CheckpointEvery int     `json:"checkpoint_every"`
	FinalValidation bool    `json:"final_validation"`
	MirrorTTA       bool    `json:"mirror_tta"`
	// Finetune options.
	WarmupEpochs        int    `json:"warmup_epochs"`
	Warmup              string `json:"warmup"`
	FreezeEncoderEpochs int    `json:"freeze_encoder_epochs"`
	// Workers and Queue only change speed, never results.
	Workers int `json:"-"`
	Queue   int `json:"-"`
}

// commonParams are the parameters of every training stage type.
func commonParams() []stage.Param {
	return []stage.Param{
		{Name: "preprocessed", Kind: stage.Path, Required: true, Doc: "data folder of the preprocess stage (dataset.json, one folder per configuration)"},
		{Name: "plans", Kind: stage.Path, Required: true, Doc: "plans file the data was preprocessed with"},
		{Name: "configuration", Kind: stage.String, Default: "3d_fullres", Doc: "plans configuration to train (3-D only)"},
		{Name: "splits", Kind: stage.Path, Doc: "splits_final.json; default: upstream's 5-fold KFold(seed 12345) of the cases"},
		{Name: "epochs", Kind: stage.Int, Default: int64(DefaultEpochs), Doc: "training epochs"},
		{Name: "iterations_per_epoch", Kind: stage.Int, Default: int64(DefaultIterations), Doc: "training batches per epoch"},
		{Name: "val_iterations", Kind: stage.Int, Default: int64(DefaultValIterations), Doc: "online validation batches per epoch"},
		{Name: "seed", Kind: stage.Int, Default: int64(0), Doc: "seed of initialisation, sampling and augmentation; same seed, same checkpoints"},
		{Name: "batch_size", Kind: stage.Int, Default: int64(0), Doc: "batch size; 0 takes the plans' batch_size"},
		{Name: "initial_lr", Kind: stage.Float, Default: optim.InitialLR, Doc: "initial learning rate of the poly schedule"},
		{Name: "checkpoint_every", Kind: stage.Int, Default: int64(1), Doc: "save checkpoint_latest every this many epochs (upstream: 50)"},
		{Name: "final_validation", Kind: stage.Bool, Default: true, Doc: "predict the validation cases by sliding window after training and write validation/summary.json"},
		{Name: "mirror_tta", Kind: stage.Bool, Default: true, Doc: "mirroring test-time augmentation in the final validation"},
		{Name: "num_workers", Kind: stage.Int, Default: int64(0), Doc: "augmentation goroutines; 0: the engine's thread budget (speed only)"},
		{Name: "queue", Kind: stage.Int, Default: int64(0), Doc: "batches prepared ahead of the network; 0: 2 × num_workers (speed only)"},
	}
}

// finetuneParams are the extra parameters of the finetune stage.
func finetuneParams() []stage.Param {
	return []stage.Param{
		{Name: "pretrained", Kind: stage.Path, Required: true, Doc: "weights to start from: a checkpoint .safetensors (e.g. ${stages.pretrain.outputs.checkpoint})"},
		{Name: "warmup_epochs", Kind: stage.Int, Default: int64(0), Doc: "epochs of linear learning-rate ramp from 0 to the poly schedule"},
		{Name: "warmup", Kind: stage.String, Default: WarmupAll, Enum: []string{WarmupAll, WarmupDecoder}, Doc: "what trains during the warm-up: all parameters, or only decoder and heads"},
		{Name: "freeze_encoder_epochs", Kind: stage.Int, Default: int64(0), Doc: "epochs during which the encoder is frozen"},
	}
}

// parseOptions reads the options from resolved stage parameters.
func parseOptions(w stage.Values, threads int) (Options, error) {
	o := Options{Epochs: DefaultEpochs, Iterations: DefaultIterations, ValIterations: DefaultValIterations, CheckpointEvery: 1, Warmup: WarmupAll}
	ints := []struct {
		name string
		dst  *int
		min  int
	}{
		{"epochs", &o.Epochs, 1}, {"iterations_per_epoch", &o.Iterations, 1}, {"val_iterations", &o.ValIterations, 0},
		{"batch_size", &o.BatchSize, 0}, {"checkpoint_every", &o.CheckpointEvery, 1},
		{"num_workers", &o.Workers, 0}, {"queue", &o.Queue, 0},
		{"warmup_epochs", &o.WarmupEpochs, 0}, {"freeze_encoder_epochs", &o.FreezeEncoderEpochs, 0},
	}
	for _, p := range ints {
		if !w.Has(p.name) {
			continue
		}
		v, err := w.Int(p.name)
		if err != nil {
			return o, err
		}
		if v < p.min {
			return o, fmt.Errorf("parameter %q is %d, must be at least %d", p.name, v, p.min)
		}
		*p.dst = v
	}
	if w.Has("seed") {
		s, err := w.Int("seed")
		if err != nil {
			return o, err
		}
		if s < 0 {
			return o, fmt.Errorf("parameter \"seed\" is %d, must not be negative", s)
		}
		o.Seed = uint64(s)
	}
	o.InitialLR = optim.InitialLR
	if w.Has("initial_lr") {
		v, err := w.Float("initial_lr")
		if err != nil {
			return o, err
		}
		if !(v > 0) {
			return o, fmt.Errorf("parameter \"initial_lr\" is %v, must be positive", v)
		}
		o.InitialLR = v
	}
	o.FinalValidation, o.MirrorTTA = true, true
	for _, b := range []struct {
		name string
		dst  *bool
	}{{"final_validation", &o.FinalValidation}, {"mirror_tta", &o.MirrorTTA}} {
		if w.Has(b.name) {
			v, err := w.Bool(b.name)
			if err != nil {
				return o, err
			}
			*b.dst = v
		}
	}
	if w.Has("warmup") {
		v, err := w.String("warmup")
		if err != nil {
			return o, err
		}
		if v != WarmupAll && v != WarmupDecoder {
			return o, fmt.Errorf("parameter \"warmup\" is %q, want %q or %q", v, WarmupAll, WarmupDecoder)
		}
		o.Warmup = v
	}
	if o.Workers == 0 {
		o.Workers = max(1, threads)
	}
	if o.Queue == 0 {
		o.Queue = 2 * o.Workers
	}
	return o, nil
}
