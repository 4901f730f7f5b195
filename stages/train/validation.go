package train

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nnrunner/nnrunner/stages/infer"
	"github.com/nnrunner/nnrunner/stages/train/metrics"
)

// SummaryPath is where the final validation writes its metrics, relative
// to the training folder.
const SummaryPath = "validation/summary.json"

// finalValidation predicts every validation case by sliding window with
// Gaussian weighting (and mirroring unless disabled) and writes
// validation/summary.json. Metrics are computed in the preprocessed
// geometry against the preprocessed labels (−1 counted as background).
func (r *run) finalValidation(ctx context.Context) error {
	pred, err := r.model.NewPredictor(1, r.patch[:])
	if err != nil {
		return err
	}
	defer pred.Close()
	opt := infer.Options{Patch: r.patch, Classes: r.s.NumClasses, StepSize: infer.StepSize, Gaussian: true}
	if r.o.MirrorTTA {
		opt.MirrorAxes = r.aug.MirrorAxes
	}
	labels := make([]int, r.s.NumClasses-1)
	for i := range labels {
		labels[i] = i + 1
	}
	var cases []metrics.Case
	for _, c := range r.valCases {
		logits, err := infer.SlidingWindow(ctx, c.Data, c.Shape, opt, pred.Forward)
		if err != nil {
			return fmt.Errorf("final validation of %s: %w", c.ID, err)
		}
		seg := infer.Argmax(logits, r.s.NumClasses)
		ref := make([]int16, len(c.Seg))
		for i, v := range c.Seg {
			ref[i] = max(v, 0)
		}
		m, err := metrics.Evaluate(seg, ref, labels, -1)
		if err != nil {
			return fmt.Errorf("final validation of %s: %w", c.ID, err)
		}
		m.Prediction, m.Reference = c.ID, c.ID
		cases = append(cases, m)
		r.printf("validation %s: dice %v", c.ID, caseDice(m))
	}
	sum, err := metrics.Summarize(cases)
	if err != nil {
		return err
	}
	path := filepath.Join(r.dir, filepath.FromSlash(SummaryPath))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("final validation: %w", err)
	}
	if err := sum.WriteFile(path); err != nil {
		return err
	}
	r.printf("final validation: mean foreground dice %.4f over %d cases", sum.MeanDice(), len(cases))
	return nil
}

func caseDice(c metrics.Case) []float64 {
	out := make([]float64, len(c.Classes))
	for i, cl := range c.Classes {
		out[i] = cl.Dice()
	}
	return roundAll(out)
}
