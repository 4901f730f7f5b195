// Package metrics computes nnU-Net's segmentation metrics and writes its
// summary.json (spec §12): per case and foreground label the confusion
// counts, Dice and IoU; per label the nanmean over cases; and the plain
// mean over labels.
package metrics

import (
	"fmt"
	"math"
	"strconv"

	"github.com/nnrunner/nnrunner/stages/pyjson"
)

// Class holds the metrics of one label in one case.
type Class struct {
	TP, FP, FN, TN int64
}

// Dice is 2TP/(2TP+FP+FN), NaN when the label is absent from both.
func (c Class) Dice() float64 {
	if c.TP+c.FP+c.FN == 0 {
		return math.NaN()
	}
	return float64(2*c.TP) / float64(2*c.TP+c.FP+c.FN)
}

// IoU is TP/(TP+FP+FN), NaN when the label is absent from both.
func (c Class) IoU() float64 {
	if c.TP+c.FP+c.FN == 0 {
		return math.NaN()
	}
	return float64(c.TP) / float64(c.TP+c.FP+c.FN)
}

// Case is the evaluation of one predicted case.
type Case struct {
	Prediction, Reference string // file names as written into summary.json
	Labels                []int
	Classes               []Class // one per label
}

// Evaluate counts, for every label, the voxels of pred and ref (same
// length) that are not ignored in ref. ignore < 0 means no ignore label.
func Evaluate(pred, ref []int16, labels []int, ignore int) (Case, error) {
	if len(pred) != len(ref) {
		return Case{}, fmt.Errorf("evaluate: prediction has %d voxels, reference %d", len(pred), len(ref))
	}
	c := Case{Labels: append([]int(nil), labels...), Classes: make([]Class, len(labels))}
	for li, l := range labels {
		var cl Class
		for i, r := range ref {
			if ignore >= 0 && int(r) == ignore {
				continue
			}
			p, g := int(pred[i]) == l, int(r) == l
			switch {
			case p && g:
				cl.TP++
			case p:
				cl.FP++
			case g:
				cl.FN++
			default:
				cl.TN++
			}
		}
		c.Classes[li] = cl
	}
	return c, nil
}

// metricKeys are the per-label entries of summary.json (sorted).
var metricKeys = []string{"Dice", "FN", "FP", "IoU", "TN", "TP", "n_pred", "n_ref"}

func (c Class) values() []float64 {
	return []float64{c.Dice(), float64(c.FN), float64(c.FP), c.IoU(), float64(c.TN), float64(c.TP),
		float64(c.TP + c.FP), float64(c.TP + c.FN)}
}

func (c Class) object() *pyjson.Object {
	o := pyjson.NewObject()
	o.Set("Dice", c.Dice())
	o.Set("FN", c.FN)
	o.Set("FP", c.FP)
	o.Set("IoU", c.IoU())
	o.Set("TN", c.TN)
	o.Set("TP", c.TP)
	o.Set("n_pred", c.TP+c.FP)
	o.Set("n_ref", c.TP+c.FN)
	return o
}

// Summary holds the aggregated results.
type Summary struct {
	Cases []Case
	// Mean is, per label (in the cases' label order) and metric key, the
	// nanmean over cases.
	Mean []map[string]float64
	// ForegroundMean is, per metric key, the mean of Mean over labels
	// (NaN propagates).
	ForegroundMean map[string]float64
}

// Summarize aggregates cases, which must all have the same labels.
func Summarize(cases []Case) (*Summary, error) {
	if len(cases) == 0 {
		return nil, fmt.Errorf("summarize: no cases")
	}
	labels := cases[0].Labels
	s := &Summary{Cases: cases, ForegroundMean: map[string]float64{}}
	for _, c := range cases {
		if fmt.Sprint(c.Labels) != fmt.Sprint(labels) {
			return nil, fmt.Errorf("summarize: case %s has labels %v, the first case %v", c.Prediction, c.Labels, labels)
		}
	}
	for li := range labels {
		m := map[string]float64{}
		for k, key := range metricKeys {
			var sum float64
			var n int
			for _, c := range cases {
				if v := c.Classes[li].values()[k]; !math.IsNaN(v) {
					sum += v
					n++
				}
			}
			m[key] = math.NaN()
			if n > 0 {
				m[key] = sum / float64(n)
			}
		}
		s.Mean = append(s.Mean, m)
	}
	for _, key := range metricKeys {
		var sum float64
		for _, m := range s.Mean {
			sum += m[key]
		}
		s.ForegroundMean[key] = sum / float64(len(s.Mean))
	}
	return s, nil
}

// MeanDice returns ForegroundMean["Dice"].
func (s *Summary) MeanDice() float64 { return s.ForegroundMean["Dice"] }

// Object renders upstream's summary.json document.
func (s *Summary) Object() *pyjson.Object {
	labels := s.Cases[0].Labels
	o := pyjson.NewObject()
	fg := pyjson.NewObject()
	for _, k := range metricKeys {
		fg.Set(k, s.ForegroundMean[k])
	}
	o.Set("foreground_mean", fg)
	mean := pyjson.NewObject()
	for li, l := range labels {
		m := pyjson.NewObject()
		for _, k := range metricKeys {
			m.Set(k, s.Mean[li][k])
		}
		mean.Set(strconv.Itoa(l), m)
	}
	o.Set("mean", mean)
	var per []any
	for _, c := range s.Cases {
		co := pyjson.NewObject()
		ms := pyjson.NewObject()
		for li, l := range c.Labels {
			ms.Set(strconv.Itoa(l), c.Classes[li].object())
		}
		co.Set("metrics", ms)
		co.Set("prediction_file", c.Prediction)
		co.Set("reference_file", c.Reference)
		per = append(per, co)
	}
	o.Set("metric_per_case", per)
	return o
}

// WriteFile writes summary.json like upstream (sort_keys=True, indent 4).
func (s *Summary) WriteFile(path string) error {
	if err := pyjson.WriteFile(path, s.Object(), pyjson.Options{Indent: 4, SortKeys: true}); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}
