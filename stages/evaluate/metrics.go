// Package evaluate computes nnU-Net v2's segmentation metrics (spec §12,
// nnunetv2/evaluation/evaluate_predictions.py) and writes its summary.json:
// per case and per label or region the confusion counts, Dice and IoU; per
// class the nanmean over cases; and the plain mean over classes.
//
// It is used in two ways: the `evaluate` workflow stage (New) compares a
// folder of predictions with a folder of reference segmentations, and the
// in-memory API (Count, Summarize, Summary.WriteFile) serves the trainer's
// final validation.
package evaluate

import (
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/nnrunner/nnrunner/stages/imageio"
	"github.com/nnrunner/nnrunner/stages/npstat"
)

// MaxLabel is the largest label value a class may name (uint16 label maps).
const MaxLabel = math.MaxUint16

// Class is one evaluated label or region. A region is the union of its
// labels; upstream distinguishes a plain integer label (key "1") from a
// tuple region (key "(1, 2)", or "(1,)" for a one-label tuple).
type Class struct {
	Labels []int
	// Region is true for a tuple region (region-based datasets whose
	// dataset.json gives a list of labels).
	Region bool
}

// Label returns the class of a single label value.
func Label(v int) Class { return Class{Labels: []int{v}} }

// Region returns the tuple-region class of the given labels.
func Region(labels ...int) Class { return Class{Labels: labels, Region: true} }

// Key is the class's summary.json key: str(label) or str(tuple).
func (c Class) Key() string {
	if !c.Region && len(c.Labels) == 1 {
		return strconv.Itoa(c.Labels[0])
	}
	s := make([]string, len(c.Labels))
	for i, v := range c.Labels {
		s[i] = strconv.Itoa(v)
	}
	if len(s) == 1 {
		return "(" + s[0] + ",)"
	}
	return "(" + strings.Join(s, ", ") + ")"
}

// Counts are the confusion counts of one class in one case, over the
// voxels whose reference is not the ignore label.
type Counts struct {
	TP, FP, FN, TN int64
}

// Dice is 2TP/(2TP+FP+FN); NaN when the class is absent from both the
// reference and the prediction.
func (c Counts) Dice() float64 {
	if c.TP+c.FP+c.FN == 0 {
		return math.NaN()
	}
	return float64(2*c.TP) / float64(2*c.TP+c.FP+c.FN)
}

// IoU is TP/(TP+FP+FN); NaN when the class is absent from both.
func (c Counts) IoU() float64 {
	if c.TP+c.FP+c.FN == 0 {
		return math.NaN()
	}
	return float64(c.TP) / float64(c.TP+c.FP+c.FN)
}

// Metrics returns the counts and derived metrics as floats.
func (c Counts) Metrics() Metrics {
	return Metrics{
		Dice: c.Dice(), IoU: c.IoU(),
		TP: float64(c.TP), FP: float64(c.FP), FN: float64(c.FN), TN: float64(c.TN),
		NPred: float64(c.TP + c.FP), NRef: float64(c.TP + c.FN),
	}
}

// Metrics holds one value per summary.json metric key.
type Metrics struct {
	Dice, IoU, TP, FP, FN, TN, NPred, NRef float64
}

// metricKeys are summary.json's metric names, sorted as sort_keys writes
// them, with accessors into Metrics.
var metricKeys = []struct {
	name string
	get  func(*Metrics) *float64
}{
	{"Dice", func(m *Metrics) *float64 { return &m.Dice }},
	{"FN", func(m *Metrics) *float64 { return &m.FN }},
	{"FP", func(m *Metrics) *float64 { return &m.FP }},
	{"IoU", func(m *Metrics) *float64 { return &m.IoU }},
	{"TN", func(m *Metrics) *float64 { return &m.TN }},
	{"TP", func(m *Metrics) *float64 { return &m.TP }},
	{"n_pred", func(m *Metrics) *float64 { return &m.NPred }},
	{"n_ref", func(m *Metrics) *float64 { return &m.NRef }},
}

// Ignore names the ignore label; voxels whose reference holds it are not
// counted. The zero value ignores nothing.
type Ignore struct {
	Set   bool
	Label int
}

// IgnoreLabel returns an Ignore for label v.
func IgnoreLabel(v int) Ignore { return Ignore{Set: true, Label: v} }

// countChunk is the number of voxels one goroutine counts at a time; a
// fixed split keeps the work independent of the core count (the counts are
// integers, so the result is exact either way).
const countChunk = 1 << 18

// Count computes the confusion counts of every class between pred and ref,
// two label maps of the same length. Counting uses one pass over the
// voxels building a joint histogram of (reference, prediction) classes of
// values, from which every label and region is derived.
func Count[T imageio.Label](pred, ref []T, classes []Class, ignore Ignore) ([]Counts, error) {
	if len(pred) != len(ref) {
		return nil, fmt.Errorf("count: prediction has %d voxels, reference %d", len(pred), len(ref))
	}
	// Map every label value that belongs to a class (and the ignore label)
	// to a bucket; all other values share bucket 0.
	bucket := map[int]int{}
	for _, c := range classes {
		if len(c.Labels) == 0 {
			return nil, fmt.Errorf("count: class with no labels")
		}
		for _, v := range c.Labels {
			if v < 0 || v > MaxLabel {
				return nil, fmt.Errorf("count: label %d outside [0, %d]", v, MaxLabel)
			}
			if _, ok := bucket[v]; !ok {
				bucket[v] = len(bucket) + 1
			}
		}
	}
	ignoreBucket := -1
	if ignore.Set {
		if ignore.Label < 0 || ignore.Label > MaxLabel {
			return nil, fmt.Errorf("count: ignore label %d outside [0, %d]", ignore.Label, MaxLabel)
		}
		if _, ok := bucket[ignore.Label]; !ok {
			bucket[ignore.Label] = len(bucket) + 1
		}
		ignoreBucket = bucket[ignore.Label]
	}
	nb := len(bucket) + 1
	maxV := 0
	for v := range bucket {
		maxV = max(maxV, v)
	}
	table := make([]uint16, maxV+1) // value -> bucket; 0 = other
	for v, b := range bucket {
		table[v] = uint16(b)
	}
	top := uint64(maxV)
	nChunks := (len(ref) + countChunk - 1) / countChunk
	hists := make([][]int64, nChunks)
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(nChunks, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ci := range work {
				h := make([]int64, nb*nb)
				end := min((ci+1)*countChunk, len(ref))
				for i := ci * countChunk; i < end; i++ {
					// Negative values wrap to large unsigned ones: bucket 0.
					rb, pb := 0, 0
					if r := uint64(int64(ref[i])); r <= top {
						rb = int(table[r])
					}
					if rb == ignoreBucket {
						continue
					}
					if p := uint64(int64(pred[i])); p <= top {
						pb = int(table[p])
					}
					h[rb*nb+pb]++
				}
				hists[ci] = h
			}
		}()
	}
	for ci := range nChunks {
		work <- ci
	}
	close(work)
	wg.Wait()
	joint := make([]int64, nb*nb)
	for _, h := range hists {
		for i, v := range h {
			joint[i] += v
		}
	}

	out := make([]Counts, len(classes))
	in := make([]bool, nb)
	for ci, c := range classes {
		clear(in)
		for _, v := range c.Labels {
			in[bucket[v]] = true
		}
		var cn Counts
		for rb := range nb {
			for pb := range nb {
				n := joint[rb*nb+pb]
				switch r, p := in[rb], in[pb]; {
				case r && p:
					cn.TP += n
				case p:
					cn.FP += n
				case r:
					cn.FN += n
				default:
					cn.TN += n
				}
			}
		}
		out[ci] = cn
	}
	return out, nil
}

// Case is the evaluation of one predicted case.
type Case struct {
	// Prediction and Reference are the file paths written into
	// summary.json.
	Prediction, Reference string
	// Counts holds one entry per class of the summary.
	Counts []Counts
}

// Summary is the aggregated evaluation of a set of cases.
type Summary struct {
	Classes []Class
	Cases   []Case
	// Mean is, per class, the nanmean of each metric over cases.
	Mean []Metrics
	// ForegroundMean is, per metric, the mean of Mean over the classes
	// (NaN propagates), label 0 excluded.
	ForegroundMean Metrics
}

// Summarize aggregates cases as compute_metrics_on_folder does, with
// numpy's summation order so the means match upstream's bits.
func Summarize(classes []Class, cases []Case) (*Summary, error) {
	if len(classes) == 0 {
		return nil, fmt.Errorf("summarize: no labels or regions to evaluate")
	}
	if len(cases) == 0 {
		return nil, fmt.Errorf("summarize: no cases to evaluate")
	}
	for _, c := range cases {
		if len(c.Counts) != len(classes) {
			return nil, fmt.Errorf("summarize: case %s has %d classes, want %d", c.Prediction, len(c.Counts), len(classes))
		}
	}
	s := &Summary{Classes: classes, Cases: cases, Mean: make([]Metrics, len(classes))}
	vals := make([]float64, len(cases))
	for ci := range classes {
		for _, k := range metricKeys {
			for i, c := range cases {
				m := c.Counts[ci].Metrics()
				vals[i] = *k.get(&m)
			}
			*k.get(&s.Mean[ci]) = nanmean(vals)
		}
	}
	var fg []int
	for ci, c := range classes {
		if c.Key() != "0" {
			fg = append(fg, ci)
		}
	}
	for _, k := range metricKeys {
		v := make([]float64, len(fg))
		for i, ci := range fg {
			v[i] = *k.get(&s.Mean[ci])
		}
		*k.get(&s.ForegroundMean) = npstat.Mean(v)
	}
	return s, nil
}

// MeanDice returns the foreground mean Dice (the number upstream logs).
func (s *Summary) MeanDice() float64 { return s.ForegroundMean.Dice }

// nanmean is np.nanmean of a float64 array: NaNs replaced by 0, numpy's
// pairwise sum, divided by the count of non-NaN values (NaN when none).
func nanmean(v []float64) float64 {
	z := make([]float64, len(v))
	n := 0
	for i, x := range v {
		if !math.IsNaN(x) {
			z[i] = x
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return npstat.Sum(z) / float64(n)
}
