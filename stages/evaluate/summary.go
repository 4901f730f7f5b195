package evaluate

import (
	"fmt"
	"math"

	"github.com/nnrunner/nnrunner/stages/pyjson"
)

// SummaryFile is the name of upstream's evaluation summary.
const SummaryFile = "summary.json"

// metricsObject renders metrics; counts (per-case values) are written as
// integers like upstream's numpy ints, means as floats.
func metricsObject(m Metrics, counts bool) *pyjson.Object {
	o := pyjson.NewObject()
	for _, k := range metricKeys {
		v := *k.get(&m)
		if counts && k.name != "Dice" && k.name != "IoU" {
			o.Set(k.name, int64(v))
			continue
		}
		o.Set(k.name, v)
	}
	return o
}

// Object renders upstream's summary.json document: foreground_mean, mean
// (per class key) and metric_per_case (metrics, prediction_file,
// reference_file per case).
func (s *Summary) Object() *pyjson.Object {
	o := pyjson.NewObject()
	o.Set("foreground_mean", metricsObject(s.ForegroundMean, false))
	mean := pyjson.NewObject()
	for ci, c := range s.Classes {
		mean.Set(c.Key(), metricsObject(s.Mean[ci], false))
	}
	o.Set("mean", mean)
	per := make([]any, len(s.Cases))
	for i, cs := range s.Cases {
		co := pyjson.NewObject()
		ms := pyjson.NewObject()
		for ci, c := range s.Classes {
			ms.Set(c.Key(), metricsObject(cs.Counts[ci].Metrics(), true))
		}
		co.Set("metrics", ms)
		co.Set("prediction_file", cs.Prediction)
		co.Set("reference_file", cs.Reference)
		per[i] = co
	}
	o.Set("metric_per_case", per)
	return o
}

// WriteFile writes the summary like upstream's save_summary_json
// (json.dump with sort_keys=True, indent=4; NaN written as NaN).
func (s *Summary) WriteFile(path string) error {
	if err := pyjson.WriteFile(path, s.Object(), pyjson.Options{Indent: 4, SortKeys: true}); err != nil {
		return fmt.Errorf("write evaluation summary: %w", err)
	}
	return nil
}

// Table renders the per-class mean Dice and IoU and the foreground mean as
// an aligned text table, for logs and terminals.
func (s *Summary) Table() string {
	w := len("foreground mean")
	for _, c := range s.Classes {
		w = max(w, len(c.Key()))
	}
	row := func(name string, m Metrics) string {
		return fmt.Sprintf("%-*s  %7s  %7s\n", w, name, fmtMetric(m.Dice), fmtMetric(m.IoU))
	}
	out := fmt.Sprintf("%-*s  %7s  %7s\n", w, "class", "Dice", "IoU")
	for ci, c := range s.Classes {
		out += row(c.Key(), s.Mean[ci])
	}
	out += row("foreground mean", s.ForegroundMean)
	return out + fmt.Sprintf("(%d cases)\n", len(s.Cases))
}

func fmtMetric(v float64) string {
	if math.IsNaN(v) {
		return "NaN"
	}
	return fmt.Sprintf("%.4f", v)
}
