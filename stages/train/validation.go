package train

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nnrunner/nnrunner/stages/evaluate"
	"github.com/nnrunner/nnrunner/stages/infer"
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
	var classes []evaluate.Class
	for l := 1; l < r.s.NumClasses; l++ {
		classes = append(classes, evaluate.Label(l))
	}
	var cases []evaluate.Case
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
		counts, err := evaluate.Count(seg, ref, classes, evaluate.Ignore{})
		if err != nil {
			return fmt.Errorf("final validation of %s: %w", c.ID, err)
		}
		cases = append(cases, evaluate.Case{Prediction: c.ID, Reference: c.ID, Counts: counts})
		r.printf("validation %s: dice %v", c.ID, caseDice(counts))
	}
	sum, err := evaluate.Summarize(classes, cases)
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

func caseDice(counts []evaluate.Counts) []float64 {
	out := make([]float64, len(counts))
	for i, c := range counts {
		out[i] = c.Dice()
	}
	return roundAll(out)
}
