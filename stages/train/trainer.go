// Package train is nnU-Net's nnUNetTrainer in Go (spec §10, §11, §13) and
// the workflow stage types built on it: `train` (any fold, from scratch),
// `pretrain` (fold all, from scratch) and `finetune` (any fold, from
// pretrained weights except the segmentation heads, with optional LR
// warm-up and encoder freezing). A run writes checkpoints (safetensors
// weights and optimizer state plus a JSON sidecar), progress.png, a log
// and, after training, validation/summary.json from sliding-window
// predictions of the validation cases. Batches are drawn and augmented in
// background goroutines; each batch has its own random generator derived
// from (seed, epoch, iteration), so a run is reproducible bit for bit and
// a resumed run ends with the same weights as an uninterrupted one.
//
// Deliberate differences from upstream: the online validation loss is that
// of the full-resolution output only (upstream weights all deep-supervision
// outputs); checkpoint_latest is written every checkpoint_every epochs
// (default 1, upstream 50); the final validation scores the argmax in the
// preprocessed geometry against the preprocessed labels instead of
// exporting NIfTI files; sliding-window sums are accumulated in float32
// (upstream float16); all training cases are held in memory; 2-D,
// region-based and ignore-label trainings are rejected with an error.
package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/nnrunner/nnrunner/stages/augment"
	"github.com/nnrunner/nnrunner/stages/dataloader"
	"github.com/nnrunner/nnrunner/stages/nn/kernels"
	"github.com/nnrunner/nnrunner/stages/nn/optim"
	"github.com/nnrunner/nnrunner/stages/nn/unet"
	"github.com/nnrunner/nnrunner/stages/plans"
)

// Setup is what a training run needs besides its options.
type Setup struct {
	Plans         *plans.Plans
	Config        *plans.Configuration
	ConfigName    string
	DataDir       string // configuration folder of the preprocessed cases
	Fold          string // "all" or a fold number, for the record
	TrainIDs      []string
	ValIDs        []string
	InputChannels int
	NumClasses    int    // segmentation heads, background included
	Pretrained    string // weights to start from; "" trains from scratch
}

// Random streams of a batch.
const (
	phaseTrain uint64 = 1
	phaseVal   uint64 = 2
	rngScheme         = "pcg(splitmix64(seed), splitmix64(phase<<62|epoch<<32|iteration))"
)

// splitmix64 scrambles x (Steele et al.), so neighbouring stream ids give
// unrelated PCG states.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func batchRNG(seed uint64, epoch, iter int, phase uint64) *rand.Rand {
	return rand.New(rand.NewPCG(splitmix64(seed), splitmix64(phase<<62|uint64(epoch)<<32|uint64(iter))))
}

// hooks lets tests observe a run.
type hooks struct {
	afterEpoch func(epoch int) // called after an epoch's checkpoints are written
}

// run is one training run's state.
type run struct {
	log   hclog.Logger
	logf  *os.File
	dir   string
	s     Setup
	o     Options
	hooks hooks

	model  *unet.Model
	net    *unet.Trainer
	pred   *unet.Predictor
	sgd    *optim.SGD
	params [][]float32
	enc    []int // indices of encoder parameters
	loss   kernels.DiceCE

	aug                      augment.Config
	batch                    int
	patch, initial           [3]int
	trainSampler, valSampler *dataloader.Sampler
	augs                     []*augment.Augmenter
	trainIn, valIn           []*dataloader.Batch
	valCases                 []*dataloader.Case

	epoch   int
	best    *Float
	logging Logging
	lastLR  float64
}

// Train runs (or, with resumed, continues) a training into dir.
func Train(ctx context.Context, log hclog.Logger, dir string, s Setup, o Options, resumed bool) error {
	return train(ctx, log, dir, s, o, resumed, hooks{})
}

func train(ctx context.Context, log hclog.Logger, dir string, s Setup, o Options, resumed bool, h hooks) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("training folder: %w", err)
	}
	lf, err := os.OpenFile(filepath.Join(dir, "training_log.txt"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("training log: %w", err)
	}
	defer lf.Close()
	r := &run{log: log, logf: lf, dir: dir, s: s, o: o, hooks: h}
	defer r.close()
	if err := r.init(ctx); err != nil {
		return err
	}
	done, err := r.restore(resumed)
	if err != nil {
		return err
	}
	if !done {
		for r.epoch < r.o.Epochs {
			if err := r.runEpoch(ctx); err != nil {
				return err
			}
		}
		if err := r.save(FinalName); err != nil {
			return err
		}
		w, op, sc := CheckpointPaths(dir, LatestName)
		for _, f := range []string{sc, w, op} {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove %s: %w", f, err)
			}
		}
		r.printf("training done")
	}
	if !r.o.FinalValidation {
		return nil
	}
	return r.finalValidation(ctx)
}

// close releases the network graphs.
func (r *run) close() {
	if r.net != nil {
		r.net.Close()
	}
	if r.pred != nil {
		r.pred.Close()
	}
}

// printf logs a line to the stage log and to training_log.txt.
func (r *run) printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.log.Info(msg)
	fmt.Fprintf(r.logf, "%s: %s\n", time.Now().UTC().Format("2006-01-02 15:04:05.000000"), msg)
}

// init builds the network, the optimiser, the data and the augmentation.
func (r *run) init(ctx context.Context) error {
	cfg := r.s.Config
	if cfg.Dim() != 3 {
		return fmt.Errorf("configuration %s is %d-D; the trainer supports 3-D configurations only", r.s.ConfigName, cfg.Dim())
	}
	arch, err := unet.ArchFromPlans(cfg.Architecture)
	if err != nil {
		return fmt.Errorf("configuration %s: %w", r.s.ConfigName, err)
	}
	r.model, err = unet.New(unet.Config{Arch: arch, InputChannels: r.s.InputChannels, NumClasses: r.s.NumClasses}, r.o.Seed)
	if err != nil {
		return err
	}
	for i, p := range r.model.Params() {
		r.params = append(r.params, p.Data)
		if strings.HasPrefix(p.Name, "encoder.") {
			r.enc = append(r.enc, i)
		}
	}
	r.patch = [3]int(cfg.PatchSize)
	r.batch = cfg.BatchSize
	if r.o.BatchSize > 0 {
		r.batch = r.o.BatchSize
	}
	r.loss = kernels.NewDiceCE(cfg.BatchDice)
	r.net, err = r.model.NewTrainer(unet.TrainOptions{Batch: r.batch, Patch: cfg.PatchSize, Loss: r.loss, DeepSupervision: true})
	if err != nil {
		return err
	}
	if r.pred, err = r.model.NewPredictor(r.batch, cfg.PatchSize); err != nil {
		return err
	}
	r.sgd = optim.NewSGD(optim.Momentum, optim.WeightDecay)
	r.aug, r.initial = augment.Configure(r.patch, cfg.UseMaskForNorm)

	trainCases, err := dataloader.LoadAll(ctx, r.s.DataDir, r.s.TrainIDs, r.o.Workers)
	if err != nil {
		return err
	}
	r.valCases = trainCases
	if strings.Join(r.s.ValIDs, "\x00") != strings.Join(r.s.TrainIDs, "\x00") {
		if r.valCases, err = dataloader.LoadAll(ctx, r.s.DataDir, r.s.ValIDs, r.o.Workers); err != nil {
			return err
		}
	}
	for _, c := range append(trainCases, r.valCases...) {
		if c.Shape[0] != r.s.InputChannels {
			return fmt.Errorf("case %s in %s has %d channels, the plans %d", c.ID, r.s.DataDir, c.Shape[0], r.s.InputChannels)
		}
	}
	if r.trainSampler, err = dataloader.NewSampler(trainCases, r.batch, r.initial, r.patch); err != nil {
		return err
	}
	if r.valSampler, err = dataloader.NewSampler(r.valCases, r.batch, r.patch, r.patch); err != nil {
		return err
	}
	for range r.o.Workers {
		a, err := augment.New(r.aug)
		if err != nil {
			return err
		}
		r.augs = append(r.augs, a)
		r.trainIn = append(r.trainIn, r.trainSampler.NewBatch())
		r.valIn = append(r.valIn, r.valSampler.NewBatch())
	}
	r.printf("network: %d parameters, batch %d, patch %v, sampling patch %v, %d training and %d validation cases",
		r.model.NumParams(), r.batch, r.patch, r.initial, len(r.s.TrainIDs), len(r.s.ValIDs))
	return nil
}

// restore continues from checkpoint_latest (or a finished training's
// checkpoint_final) when resumed, and otherwise applies the pretrained
// weights. It reports whether training is already complete.
func (r *run) restore(resumed bool) (bool, error) {
	if resumed {
		for _, name := range []string{FinalName, LatestName} {
			_, _, sc := CheckpointPaths(r.dir, name)
			if _, err := os.Stat(sc); err != nil {
				continue
			}
			side, bufs, err := loadCheckpoint(r.dir, name, r.model)
			if err != nil {
				return false, fmt.Errorf("resume: %w", err)
			}
			r.sgd.SetMomentumBuffers(bufs)
			r.epoch, r.best, r.logging, r.lastLR = side.CurrentEpoch, side.BestEMA, side.Logging, float64(side.LR)
			r.printf("resumed from %s at epoch %d", name, r.epoch)
			return name == FinalName, nil
		}
		r.printf("resume requested but no checkpoint found; starting from scratch")
	}
	if r.s.Pretrained != "" {
		n, err := LoadPretrained(r.model, r.s.Pretrained)
		if err != nil {
			return false, err
		}
		r.printf("loaded %d pretrained parameters from %s (segmentation heads kept at their initialisation)", n, r.s.Pretrained)
	}
	return false, nil
}

// lr is the learning rate of iteration it of epoch e: the poly schedule,
// ramped linearly from 0 during the warm-up.
func (r *run) lr(e, it int) float64 {
	lr := optim.PolyLR(r.o.InitialLR, e, r.o.Epochs, optim.PolyExponent)
	if e < r.o.WarmupEpochs {
		lr *= float64(e*r.o.Iterations+it+1) / float64(r.o.WarmupEpochs*r.o.Iterations)
	}
	return lr
}

// frozen reports whether the encoder is frozen in epoch e.
func (r *run) frozen(e int) bool {
	return e < r.o.FreezeEncoderEpochs || (r.o.Warmup == WarmupDecoder && e < r.o.WarmupEpochs)
}

func (r *run) newOutput() *augment.Output {
	return augment.NewOutput(r.batch, r.s.InputChannels, r.patch)
}

// runEpoch trains and validates one epoch and writes its checkpoints.
func (r *run) runEpoch(ctx context.Context) error {
	e := r.epoch
	start := time.Now()
	r.printf("epoch %d: learning rate %.6g", e, r.lr(e, 0))
	trainLoss, err := r.trainEpoch(ctx, e)
	if err != nil {
		return err
	}
	valLoss, dice, err := r.validateEpoch(ctx, e)
	if err != nil {
		return err
	}
	mean := nanMean(dice)
	ema := mean
	if n := len(r.logging.EMAFgDice); n > 0 {
		ema = 0.9*float64(r.logging.EMAFgDice[n-1]) + 0.1*mean
	}
	end := time.Now()
	lg := &r.logging
	lg.TrainLosses = append(lg.TrainLosses, Float(trainLoss))
	lg.ValLosses = append(lg.ValLosses, Float(valLoss))
	lg.LRs = append(lg.LRs, Float(r.lr(e, 0)))
	lg.MeanFgDice = append(lg.MeanFgDice, Float(mean))
	lg.EMAFgDice = append(lg.EMAFgDice, Float(ema))
	dc := make([]Float, len(dice))
	for i, d := range dice {
		dc[i] = Float(d)
	}
	lg.DicePerClass = append(lg.DicePerClass, dc)
	lg.EpochStart = append(lg.EpochStart, Float(float64(start.UnixNano())/1e9))
	lg.EpochEnd = append(lg.EpochEnd, Float(float64(end.UnixNano())/1e9))
	r.lastLR = r.lr(e, r.o.Iterations-1)
	r.epoch++
	r.printf("epoch %d: train loss %.4f, val loss %.4f, pseudo dice %v, ema %.4f, %.1f s",
		e, trainLoss, valLoss, roundAll(dice), ema, end.Sub(start).Seconds())
	if r.epoch%r.o.CheckpointEvery == 0 && r.epoch != r.o.Epochs {
		if err := r.save(LatestName); err != nil {
			return err
		}
	}
	if r.best == nil || ema > float64(*r.best) {
		b := Float(ema)
		r.best = &b
		r.printf("new best EMA pseudo dice %.4f", ema)
		if err := r.save(BestName); err != nil {
			return err
		}
	}
	if err := writeProgress(filepath.Join(r.dir, "progress.png"), &r.logging); err != nil {
		return err
	}
	if r.hooks.afterEpoch != nil {
		r.hooks.afterEpoch(e)
	}
	return nil
}

func roundAll(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = math.Round(x*1e4) / 1e4
	}
	return out
}

func nanMean(v []float64) float64 {
	var s float64
	n := 0
	for _, x := range v {
		if !math.IsNaN(x) {
			s += x
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return s / float64(n)
}

// trainEpoch runs the training iterations of epoch e and returns the mean
// loss.
func (r *run) trainEpoch(ctx context.Context, e int) (float64, error) {
	st := augment.NewStream(ctx, r.o.Iterations, r.o.Workers, r.o.Queue, r.newOutput,
		func(w, i int, out *augment.Output) error {
			rng := batchRNG(r.o.Seed, e, i, phaseTrain)
			r.trainSampler.Sample(rng, r.trainIn[w])
			return r.augs[w].Train(rng, r.trainIn[w], out)
		})
	defer st.Close()
	frozen := r.frozen(e)
	var sum float64
	for it := range r.o.Iterations {
		b, err := st.Next()
		if err != nil {
			return 0, fmt.Errorf("epoch %d: %w", e, err)
		}
		l, err := r.step(b, r.lr(e, it), frozen)
		st.Release(b)
		if err != nil {
			return 0, fmt.Errorf("epoch %d iteration %d: %w", e, it, err)
		}
		sum += l
	}
	return sum / float64(r.o.Iterations), nil
}

// step is one training iteration: forward/backward, gradient clipping and
// the SGD update. With frozen, the encoder neither takes part in the
// gradient norm nor moves, and its momentum stays as it was (PyTorch's
// behaviour for parameters without gradient).
func (r *run) step(b *augment.Output, lr float64, frozen bool) (float64, error) {
	res, err := r.net.ForwardBackward(b.Data, b.Seg)
	if err != nil {
		return 0, err
	}
	if math.IsNaN(res.Total) || math.IsInf(res.Total, 0) {
		return 0, fmt.Errorf("training loss is %v", res.Total)
	}
	grads := r.net.Grads()
	var keepP, keepB [][]float32
	if frozen {
		bufs := r.sgd.MomentumBuffers()
		for _, i := range r.enc {
			clear(grads[i])
			keepP = append(keepP, append([]float32(nil), r.params[i]...))
			if bufs != nil {
				keepB = append(keepB, append([]float32(nil), bufs[i]...))
			}
		}
	}
	optim.ClipGradNorm(grads, optim.MaxGradNorm)
	if err := r.sgd.Step(r.params, grads, lr); err != nil {
		return 0, err
	}
	if frozen {
		bufs := r.sgd.MomentumBuffers()
		for k, i := range r.enc {
			copy(r.params[i], keepP[k])
			if keepB != nil {
				copy(bufs[i], keepB[k])
			} else {
				// No buffer existed: zero acts as PyTorch's "first step" (b ← g).
				clear(bufs[i])
			}
		}
	}
	return res.Total, nil
}

// validateEpoch runs the online validation of epoch e: the mean loss of
// the full-resolution output and the pseudo Dice per foreground class.
func (r *run) validateEpoch(ctx context.Context, e int) (float64, []float64, error) {
	k := r.s.NumClasses
	tp, fp, fn := make([]int64, k), make([]int64, k), make([]int64, k)
	if r.o.ValIterations == 0 {
		return math.NaN(), nanSlice(k - 1), nil
	}
	st := augment.NewStream(ctx, r.o.ValIterations, r.o.Workers, r.o.Queue, r.newOutput,
		func(w, i int, out *augment.Output) error {
			rng := batchRNG(r.o.Seed, e, i, phaseVal)
			r.valSampler.Sample(rng, r.valIn[w])
			return r.augs[w].Validation(r.valIn[w], out)
		})
	defer st.Close()
	n := r.patch[0] * r.patch[1] * r.patch[2]
	logits := make([]float32, r.batch*k*n)
	var sum float64
	for range r.o.ValIterations {
		b, err := st.Next()
		if err != nil {
			return 0, nil, fmt.Errorf("epoch %d validation: %w", e, err)
		}
		if err := r.pred.Forward(b.Data, logits); err != nil {
			st.Release(b)
			return 0, nil, err
		}
		l, err := kernels.DiceCELoss(r.loss, logits, b.Seg, r.batch, k, n, 1, nil)
		if err != nil {
			st.Release(b)
			return 0, nil, err
		}
		sum += l.Total
		for s := range r.batch {
			lg := logits[s*k*n : (s+1)*k*n]
			for v := range n {
				p := 0
				best := lg[v]
				for c := 1; c < k; c++ {
					if x := lg[c*n+v]; x > best {
						best, p = x, c
					}
				}
				t := int(b.Seg[s*n+v])
				if p == t {
					tp[p]++
				} else {
					fp[p]++
					fn[t]++
				}
			}
		}
		st.Release(b)
	}
	dice := make([]float64, k-1)
	for c := 1; c < k; c++ {
		den := 2*tp[c] + fp[c] + fn[c]
		dice[c-1] = math.NaN()
		if den > 0 {
			dice[c-1] = float64(2*tp[c]) / float64(den)
		}
	}
	return sum / float64(r.o.ValIterations), dice, nil
}

func nanSlice(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = math.NaN()
	}
	return s
}

// save writes checkpoint name for the current state.
func (r *run) save(name string) error {
	sc := &Sidecar{
		Format: sidecarFormat, TrainerName: trainerName, CurrentEpoch: r.epoch, LR: Float(r.lastLR),
		RNG:       RNGState{Scheme: rngScheme, Seed: r.o.Seed, NextEpoch: r.epoch},
		PlansName: r.s.Plans.PlansName(), DatasetName: r.s.Plans.DatasetName(),
		Configuration: r.s.ConfigName, Fold: r.s.Fold,
		InputChannels: r.s.InputChannels, NumClasses: r.s.NumClasses,
		PatchSize: r.patch[:], MirrorAxes: r.aug.MirrorAxes,
		Options: r.o, BestEMA: r.best, Logging: r.logging,
	}
	if err := saveCheckpoint(r.dir, name, r.model, r.sgd.MomentumBuffers(), sc); err != nil {
		return fmt.Errorf("save %s: %w", name, err)
	}
	return nil
}
