package train

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/nnrunner/nnrunner/stages/nn/unet"
)

// Checkpoint names inside the training folder. Each checkpoint is three
// files: <name>.safetensors (network weights under their canonical
// state_dict keys), <name>.optimizer.safetensors (SGD momentum buffers
// under the same keys) and <name>.json (the sidecar).
const (
	LatestName     = "checkpoint_latest"
	BestName       = "checkpoint_best"
	FinalName      = "checkpoint_final"
	WeightsSuffix  = ".safetensors"
	OptimSuffix    = ".optimizer.safetensors"
	SidecarSuffix  = ".json"
	sidecarFormat  = 1
	trainerName    = "nnUNetTrainer"
	metaEpochKey   = "current_epoch"
	metaFormatKey  = "format"
	metaFormatName = "nnrunner-checkpoint"
)

// Float is a float64 whose JSON form is null for NaN (JSON has no NaN).
type Float float64

// MarshalJSON writes null for NaN and infinities.
func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(v)
}

// UnmarshalJSON reads null as NaN.
func (f *Float) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = Float(math.NaN())
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = Float(v)
	return nil
}

// Logging holds upstream's per-epoch lists (nnUNetLogger), one entry per
// finished epoch. Timestamps are Unix seconds.
type Logging struct {
	MeanFgDice   []Float   `json:"mean_fg_dice"`
	EMAFgDice    []Float   `json:"ema_fg_dice"`
	DicePerClass [][]Float `json:"dice_per_class_or_region"`
	TrainLosses  []Float   `json:"train_losses"`
	ValLosses    []Float   `json:"val_losses"`
	LRs          []Float   `json:"lrs"`
	EpochStart   []Float   `json:"epoch_start_timestamps"`
	EpochEnd     []Float   `json:"epoch_end_timestamps"`
}

// RNGState says how the random streams of the remaining epochs are
// derived: every batch draws from its own PCG generator seeded with
// (Seed, stream(epoch, iteration, phase)), so the state at an epoch
// boundary is the seed and the next epoch.
type RNGState struct {
	Scheme    string `json:"scheme"`
	Seed      uint64 `json:"seed"`
	NextEpoch int    `json:"next_epoch"`
}

// Sidecar is a checkpoint's JSON side file.
type Sidecar struct {
	Format        int      `json:"format"`
	TrainerName   string   `json:"trainer_name"`
	CurrentEpoch  int      `json:"current_epoch"` // next epoch to run; Epochs in the final checkpoint
	LR            Float    `json:"lr"`            // learning rate of the last epoch run
	RNG           RNGState `json:"rng"`
	PlansName     string   `json:"plans_name"`
	DatasetName   string   `json:"dataset_name"`
	Configuration string   `json:"configuration"`
	Fold          string   `json:"fold"`
	InputChannels int      `json:"input_channels"`
	NumClasses    int      `json:"num_classes"`
	PatchSize     []int    `json:"patch_size"`
	MirrorAxes    []int    `json:"inference_allowed_mirroring_axes"`
	Options       Options  `json:"options"`
	BestEMA       *Float   `json:"best_ema"`
	HasMomentum   bool     `json:"has_momentum"`
	Logging       Logging  `json:"logging"`
}

// CheckpointPaths returns the weights, optimizer and sidecar files of
// checkpoint name in dir.
func CheckpointPaths(dir, name string) (weights, optimizer, sidecar string) {
	b := filepath.Join(dir, name)
	return b + WeightsSuffix, b + OptimSuffix, b + SidecarSuffix
}

// saveCheckpoint writes the three files of a checkpoint; the sidecar goes
// last, and the epoch stored in both tensor files lets loadCheckpoint
// detect a save torn by a kill.
func saveCheckpoint(dir, name string, model *unet.Model, momentum [][]float32, sc *Sidecar) error {
	wPath, oPath, sPath := CheckpointPaths(dir, name)
	meta := map[string]string{metaFormatKey: metaFormatName, metaEpochKey: strconv.Itoa(sc.CurrentEpoch)}
	if err := writeSafetensors(wPath, model.State(), meta); err != nil {
		return err
	}
	bufs := map[string]unet.Tensor{}
	sc.HasMomentum = momentum != nil
	if momentum != nil {
		for i, p := range model.Params() {
			bufs[p.Name] = unet.Tensor{Shape: p.Shape, Data: momentum[i]}
		}
	}
	if err := writeSafetensors(oPath, bufs, meta); err != nil {
		return err
	}
	b, err := json.MarshalIndent(sc, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", sPath, err)
	}
	return writeFileAtomic(sPath, append(b, '\n'))
}

// ReadSidecar reads a checkpoint's JSON side file.
func ReadSidecar(path string) (*Sidecar, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read checkpoint sidecar: %w", err)
	}
	var sc Sidecar
	if err := json.Unmarshal(b, &sc); err != nil {
		return nil, fmt.Errorf("read checkpoint sidecar %s: %w", path, err)
	}
	if sc.Format != sidecarFormat {
		return nil, fmt.Errorf("read checkpoint sidecar %s: format %d, this version reads %d", path, sc.Format, sidecarFormat)
	}
	return &sc, nil
}

// ReadWeights reads a checkpoint's weights file: canonical state_dict keys
// to tensors.
func ReadWeights(path string) (map[string]unet.Tensor, error) {
	w, _, err := readSafetensors(path)
	return w, err
}

// loadCheckpoint restores the weights and momentum of checkpoint name into
// model and returns its sidecar and momentum buffers (model order; nil when
// no step had been taken).
func loadCheckpoint(dir, name string, model *unet.Model) (*Sidecar, [][]float32, error) {
	wPath, oPath, sPath := CheckpointPaths(dir, name)
	sc, err := ReadSidecar(sPath)
	if err != nil {
		return nil, nil, err
	}
	w, wMeta, err := readSafetensors(wPath)
	if err != nil {
		return nil, nil, err
	}
	o, oMeta, err := readSafetensors(oPath)
	if err != nil {
		return nil, nil, err
	}
	want := strconv.Itoa(sc.CurrentEpoch)
	if wMeta[metaEpochKey] != want || oMeta[metaEpochKey] != want {
		return nil, nil, fmt.Errorf("checkpoint %s in %s is inconsistent (sidecar epoch %s, weights %q, optimizer %q): a save was interrupted; delete the folder to start over",
			name, dir, want, wMeta[metaEpochKey], oMeta[metaEpochKey])
	}
	if err := model.Load(w, nil); err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: %w", wPath, err)
	}
	if !sc.HasMomentum {
		return sc, nil, nil
	}
	bufs := make([][]float32, len(model.Params()))
	for i, p := range model.Params() {
		t, ok := o[p.Name]
		if !ok || len(t.Data) != len(p.Data) {
			return nil, nil, fmt.Errorf("checkpoint %s: momentum of %s is missing or has the wrong size", oPath, p.Name)
		}
		bufs[i] = t.Data
	}
	return sc, bufs, nil
}
