// Package predict is nnU-Net v2's inference (nnUNetPredictor, spec §11):
// raw images are preprocessed with the training code path, predicted by
// sliding-window inference (Gaussian weighting, optional mirroring, an
// ensemble of checkpoints averaged), brought back to the original grid
// (logits resampled with order 1, argmax, uncropped, un-transposed) and
// written as segmentations with the input's exact geometry.
package predict

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/nnrunner/nnrunner/stages/imageio"
	"github.com/nnrunner/nnrunner/stages/infer"
	"github.com/nnrunner/nnrunner/stages/nn/unet"
	"github.com/nnrunner/nnrunner/stages/plans"
	"github.com/nnrunner/nnrunner/stages/preprocess"
	"github.com/nnrunner/nnrunner/stages/train"
)

// Checkpoint is a trained network's weights and, when present, its
// sidecar.
type Checkpoint struct {
	Path    string
	Weights map[string]unet.Tensor
	// Sidecar is nil for a weights file without one.
	Sidecar *train.Sidecar
}

// Parameter keys that fix the network's input channels and classes.
const (
	firstConvKey = "encoder.stages.0.0.convs.0.conv.weight"
	segLayerKey  = "decoder.seg_layers.0.weight"
)

// ReadCheckpoint reads a weights file written by the training stages
// (<name>.safetensors) and its sidecar <name>.json when it exists.
func ReadCheckpoint(path string) (*Checkpoint, error) {
	w, err := train.ReadWeights(path)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{Path: path, Weights: w}
	if base, ok := strings.CutSuffix(path, train.WeightsSuffix); ok {
		sc := base + train.SidecarSuffix
		if fileExists(sc) {
			if c.Sidecar, err = train.ReadSidecar(sc); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

// Shape returns the network's input channels and classes as stored in the
// weights.
func (c *Checkpoint) Shape() (channels, classes int, err error) {
	first, ok := c.Weights[firstConvKey]
	if !ok || len(first.Shape) < 2 {
		return 0, 0, fmt.Errorf("checkpoint %s has no %s: not a PlainConvUNet checkpoint", c.Path, firstConvKey)
	}
	seg, ok := c.Weights[segLayerKey]
	if !ok || len(seg.Shape) < 1 {
		return 0, 0, fmt.Errorf("checkpoint %s has no %s: not a PlainConvUNet checkpoint", c.Path, segLayerKey)
	}
	return first.Shape[1], seg.Shape[0], nil
}

// Options configures a Predictor.
type Options struct {
	// Configuration names the plans configuration, e.g. "3d_fullres".
	Configuration string
	// Mirroring enables test-time mirroring over the checkpoint's
	// inference mirror axes (all spatial axes when it records none).
	Mirroring bool
	// StepSize is the tile step as a fraction of the patch; 0.5 when 0.
	StepSize float64
	// Workers bounds the goroutines of preprocessing and resampling.
	Workers int
	// Log receives per-case progress; nil discards it.
	Log hclog.Logger
}

// Net computes the logits of one tile, shaped (channels, patch...) in and
// (classes, patch...) out; *unet.Predictor is one.
type Net interface {
	Forward(x, dst []float32) error
	Close() error
}

// Predictor predicts cases with one configuration of a plans file and one
// or more networks.
type Predictor struct {
	cfg      *preprocess.Config
	patch    [3]int
	channels int
	classes  int
	infer    infer.Options
	nets     []Net
	workers  int
	log      hclog.Logger
}

// NewPredictor builds a predictor for the checkpoints, which must all fit the
// network of plans p's configuration opt.Configuration.
func NewPredictor(p *plans.Plans, checkpoints []*Checkpoint, opt Options) (*Predictor, error) {
	if len(checkpoints) == 0 {
		return nil, fmt.Errorf("predict: no checkpoint given")
	}
	pr, arch, err := newPredictor(p, opt)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			pr.Close()
		}
	}()
	var mirror []int
	for i, ck := range checkpoints {
		channels, classes, err := ck.Shape()
		if err != nil {
			return nil, err
		}
		if err := checkSidecar(ck, p, opt.Configuration); err != nil {
			return nil, err
		}
		if channels != pr.channels {
			return nil, fmt.Errorf("checkpoint %s takes %d input channel(s) but configuration %s of plans %s normalizes %d: the checkpoint was trained with other plans",
				ck.Path, channels, opt.Configuration, p.PlansName(), pr.channels)
		}
		if i == 0 {
			pr.classes = classes
		} else if classes != pr.classes {
			return nil, fmt.Errorf("ensemble: checkpoint %s predicts %d classes but %s predicts %d", ck.Path, classes, checkpoints[0].Path, pr.classes)
		}
		m, err := unet.New(unet.Config{Arch: arch, InputChannels: channels, NumClasses: classes}, 0)
		if err != nil {
			return nil, err
		}
		if err := m.Load(ck.Weights, nil); err != nil {
			return nil, fmt.Errorf("checkpoint %s does not fit the network of plans %s configuration %s (%w): predict with the plans the checkpoint was trained with",
				ck.Path, p.PlansName(), opt.Configuration, err)
		}
		net, err := m.NewPredictor(1, pr.patch[:])
		if err != nil {
			return nil, err
		}
		pr.nets = append(pr.nets, net)
		if ck.Sidecar != nil && ck.Sidecar.MirrorAxes != nil {
			mirror = ck.Sidecar.MirrorAxes
		}
	}
	pr.infer.Classes = pr.classes
	if opt.Mirroring {
		if mirror == nil {
			mirror = []int{0, 1, 2}
		}
		for _, ax := range mirror {
			if ax < 0 || ax > 2 {
				return nil, fmt.Errorf("checkpoint mirror axes %v: want spatial axes 0..2", mirror)
			}
		}
		pr.infer.MirrorAxes = mirror
	}
	ok = true
	return pr, nil
}

// newPredictor resolves the configuration into a predictor without
// networks.
func newPredictor(p *plans.Plans, opt Options) (*Predictor, unet.Arch, error) {
	cfg, err := preprocess.NewConfig(p, opt.Configuration, nil)
	if err != nil {
		return nil, unet.Arch{}, err
	}
	pc, err := p.Configuration(opt.Configuration)
	if err != nil {
		return nil, unet.Arch{}, err
	}
	if len(pc.PatchSize) != 3 {
		return nil, unet.Arch{}, fmt.Errorf("configuration %s of plans %s is %d-D; predict supports 3-D configurations (3d_fullres, 3d_lowres)",
			opt.Configuration, p.PlansName(), len(pc.PatchSize))
	}
	arch, err := unet.ArchFromPlans(pc.Architecture)
	if err != nil {
		return nil, unet.Arch{}, fmt.Errorf("plans %s configuration %s: %w", p.PlansName(), opt.Configuration, err)
	}
	step := opt.StepSize
	if step == 0 {
		step = infer.StepSize
	}
	if !(step > 0 && step <= 1) {
		return nil, unet.Arch{}, fmt.Errorf("step size %v: want a fraction in (0, 1]", step)
	}
	log := opt.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	pr := &Predictor{
		cfg:      cfg,
		patch:    [3]int(pc.PatchSize),
		channels: len(cfg.Channels),
		workers:  max(opt.Workers, 1),
		log:      log,
	}
	pr.infer = infer.Options{Patch: pr.patch, StepSize: step, Gaussian: true}
	return pr, arch, nil
}

// checkSidecar refuses a checkpoint whose sidecar names other plans or
// another configuration.
func checkSidecar(ck *Checkpoint, p *plans.Plans, configuration string) error {
	sc := ck.Sidecar
	if sc == nil {
		return nil
	}
	if sc.PlansName != "" && sc.PlansName != p.PlansName() {
		return fmt.Errorf("checkpoint %s was trained with plans %q but the plans given are %q: predict with the plans file the checkpoint was trained with",
			ck.Path, sc.PlansName, p.PlansName())
	}
	if sc.Configuration != "" && sc.Configuration != configuration {
		return fmt.Errorf("checkpoint %s was trained with configuration %s, not %s", ck.Path, sc.Configuration, configuration)
	}
	return nil
}

// Classes returns the number of classes the networks predict.
func (pr *Predictor) Classes() int { return pr.classes }

// Channels returns the number of image channels the networks take.
func (pr *Predictor) Channels() int { return pr.channels }

// Close releases the networks.
func (pr *Predictor) Close() error {
	var first error
	for _, n := range pr.nets {
		if err := n.Close(); err != nil && first == nil {
			first = err
		}
	}
	pr.nets = nil
	return first
}

// Predict returns the label map of one image on its own grid: (X, Y, Z)
// in the image's array order.
func (pr *Predictor) Predict(ctx context.Context, img *imageio.Image) ([]int16, [3]int, error) {
	if img.Shape[0] != pr.channels {
		return nil, [3]int{}, fmt.Errorf("image has %d channel(s) but the model takes %d", img.Shape[0], pr.channels)
	}
	c, err := pr.cfg.Run(ctx, img, nil, pr.workers)
	if err != nil {
		return nil, [3]int{}, fmt.Errorf("preprocess: %w", err)
	}
	logits, err := pr.logits(ctx, c.Data, c.Shape)
	if err != nil {
		return nil, [3]int{}, err
	}
	c.Data = nil
	shape := [3]int{c.Shape[1], c.Shape[2], c.Shape[3]}
	res, err := pr.cfg.ProbabilitiesToCropped(logits, pr.classes, shape, &c.Properties, pr.workers)
	if err != nil {
		return nil, [3]int{}, fmt.Errorf("resample prediction: %w", err)
	}
	seg, out, err := preprocess.Revert(infer.Argmax(res, pr.classes), 1, pr.cfg, &c.Properties, 0)
	if err != nil {
		return nil, [3]int{}, err
	}
	return seg, out, nil
}

// logits runs sliding-window inference with every network and averages
// the logits (upstream's ensemble rule).
func (pr *Predictor) logits(ctx context.Context, data []float32, shape [4]int) ([]float32, error) {
	var sum []float32
	for _, n := range pr.nets {
		// Check for cancellation before every forward pass, not only per
		// tile: a tile with mirroring runs up to 8 of them.
		tile := func(x, dst []float32) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return n.Forward(x, dst)
		}
		l, err := infer.SlidingWindow(ctx, data, shape, pr.infer, tile)
		if err != nil {
			return nil, err
		}
		if sum == nil {
			sum = l
			continue
		}
		for i, v := range l {
			sum[i] += v
		}
	}
	if n := float32(len(pr.nets)); n > 1 {
		for i := range sum {
			sum[i] /= n
		}
	}
	return sum, nil
}

// PredictFolder predicts every case of inDir (channel files
// <case>_XXXX<ending>) and writes <case><ending> into outDir.
func (pr *Predictor) PredictFolder(ctx context.Context, inDir, outDir, ending string) (int, error) {
	cases, err := ListCases(inDir, ending, pr.channels)
	if err != nil {
		return 0, err
	}
	for i, cs := range cases {
		if err := ctx.Err(); err != nil {
			return i, err
		}
		img, err := imageio.ReadImages(cs.Files)
		if err != nil {
			return i, err
		}
		seg, shape, err := pr.Predict(ctx, img)
		if err != nil {
			return i, fmt.Errorf("predict %s: %w", cs.ID, err)
		}
		path := filepath.Join(outDir, cs.ID+ending)
		if err := imageio.WriteSeg(path, seg, shape, img.Geometry); err != nil {
			return i, err
		}
		pr.log.Info("predicted", "case", cs.ID, "shape", shape, "done", fmt.Sprintf("%d/%d", i+1, len(cases)))
	}
	return len(cases), nil
}

// fileExists reports whether path exists.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
