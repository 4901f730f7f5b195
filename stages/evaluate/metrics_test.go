package evaluate

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestClassKey(t *testing.T) {
	for _, tc := range []struct {
		c    Class
		want string
	}{
		{Label(1), "1"},
		{Label(12), "12"},
		{Region(1, 2), "(1, 2)"},
		{Region(3), "(3,)"},
		{Class{Labels: []int{1, 2, 3}}, "(1, 2, 3)"},
	} {
		if got := tc.c.Key(); got != tc.want {
			t.Errorf("%+v.Key() = %q, want %q", tc.c, got, tc.want)
		}
	}
}

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pred, ref []int16
		classes   []Class
		ignore    Ignore
		want      []Counts
	}{
		{
			name:    "two labels",
			ref:     []int16{0, 1, 1, 2, 0, 1},
			pred:    []int16{0, 1, 2, 2, 1, 0},
			classes: []Class{Label(1), Label(2)},
			want:    []Counts{{TP: 1, FP: 1, FN: 2, TN: 2}, {TP: 1, FP: 1, FN: 0, TN: 4}},
		},
		{
			name:    "absent from both",
			ref:     []int16{0, 0, 0},
			pred:    []int16{0, 0, 0},
			classes: []Class{Label(1)},
			want:    []Counts{{TN: 3}},
		},
		{
			name:    "ignore label skips reference voxels only",
			ref:     []int16{3, 1, 1, 0, 3},
			pred:    []int16{1, 1, 0, 3, 0},
			classes: []Class{Label(1)},
			ignore:  IgnoreLabel(3),
			want:    []Counts{{TP: 1, FN: 1, TN: 1}},
		},
		{
			name:    "region is the union of its labels",
			ref:     []int16{1, 2, 0, 0},
			pred:    []int16{2, 0, 1, 0},
			classes: []Class{Region(1, 2), Region(2)},
			want:    []Counts{{TP: 1, FP: 1, FN: 1, TN: 1}, {FN: 1, TN: 2, FP: 1}},
		},
		{
			name:    "values outside every class are background",
			ref:     []int16{5, 5, 1, -1},
			pred:    []int16{7, 1, 1, 1},
			classes: []Class{Label(1)},
			want:    []Counts{{TP: 1, FP: 2, TN: 1}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Count(tc.pred, tc.ref, tc.classes, tc.ignore)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCountChunks checks the chunked parallel count against a direct one
// on a volume larger than one chunk.
func TestCountChunks(t *testing.T) {
	n := 3*countChunk + 17
	pred, ref := make([]uint8, n), make([]uint8, n)
	for i := range pred {
		pred[i] = uint8(i * 7 % 4)
		ref[i] = uint8(i * 13 % 5)
	}
	classes := []Class{Label(1), Label(2), Region(1, 3)}
	got, err := Count(pred, ref, classes, IgnoreLabel(4))
	if err != nil {
		t.Fatal(err)
	}
	want := make([]Counts, len(classes))
	for ci, c := range classes {
		in := func(v uint8) bool {
			for _, l := range c.Labels {
				if int(v) == l {
					return true
				}
			}
			return false
		}
		for i := range ref {
			if ref[i] == 4 {
				continue
			}
			switch r, p := in(ref[i]), in(pred[i]); {
			case r && p:
				want[ci].TP++
			case p:
				want[ci].FP++
			case r:
				want[ci].FN++
			default:
				want[ci].TN++
			}
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
}

func TestCountErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pred, ref []int16
		classes   []Class
		ignore    Ignore
		want      string
	}{
		{"length", []int16{1}, []int16{1, 2}, []Class{Label(1)}, Ignore{}, "prediction has 1 voxels, reference 2"},
		{"empty class", []int16{1}, []int16{1}, []Class{{}}, Ignore{}, "class with no labels"},
		{"negative label", []int16{1}, []int16{1}, []Class{Label(-1)}, Ignore{}, "outside"},
		{"ignore out of range", []int16{1}, []int16{1}, []Class{Label(1)}, IgnoreLabel(70000), "ignore label 70000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Count(tc.pred, tc.ref, tc.classes, tc.ignore)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		c    Counts
		want Metrics
	}{
		{Counts{TP: 1, FP: 1, FN: 2, TN: 2}, Metrics{Dice: 0.4, IoU: 0.25, TP: 1, FP: 1, FN: 2, TN: 2, NPred: 2, NRef: 3}},
		{Counts{TP: 1, FP: 1, TN: 4}, Metrics{Dice: 2. / 3, IoU: 0.5, TP: 1, FP: 1, TN: 4, NPred: 2, NRef: 1}},
		{Counts{TN: 9}, Metrics{Dice: nan, IoU: nan, TN: 9}},
		{Counts{FP: 3, TN: 1}, Metrics{Dice: 0, IoU: 0, FP: 3, TN: 1, NPred: 3}},
		{Counts{FN: 2}, Metrics{Dice: 0, IoU: 0, FN: 2, NRef: 2}},
		{Counts{TP: 5}, Metrics{Dice: 1, IoU: 1, TP: 5, NPred: 5, NRef: 5}},
	} {
		if diff := cmp.Diff(tc.want, tc.c.Metrics(), cmpopts.EquateNaNs()); diff != "" {
			t.Errorf("%+v (-want +got):\n%s", tc.c, diff)
		}
	}
}

func TestSummarize(t *testing.T) {
	nan := math.NaN()
	classes := []Class{Label(1), Label(2)}
	cases := []Case{
		{Prediction: "p/a.nii.gz", Reference: "r/a.nii.gz", Counts: []Counts{{TP: 1, FP: 1, FN: 2, TN: 2}, {TN: 6}}},
		{Prediction: "p/b.nii.gz", Reference: "r/b.nii.gz", Counts: []Counts{{TP: 3, TN: 3}, {TN: 6}}},
		{Prediction: "p/c.nii.gz", Reference: "r/c.nii.gz", Counts: []Counts{{TN: 6}, {TN: 6}}},
	}
	s, err := Summarize(classes, cases)
	if err != nil {
		t.Fatal(err)
	}
	want := []Metrics{
		// Dice nanmean over (0.4, 1, NaN); counts are plain means.
		{Dice: 0.7, IoU: 0.625, TP: 4. / 3, FP: 1. / 3, FN: 2. / 3, TN: 11. / 3, NPred: 5. / 3, NRef: 2},
		// All NaN: nanmean is NaN.
		{Dice: nan, IoU: nan, TN: 6},
	}
	if diff := cmp.Diff(want, s.Mean, cmpopts.EquateNaNs(), cmpopts.EquateApprox(0, 1e-15)); diff != "" {
		t.Errorf("mean (-want +got):\n%s", diff)
	}
	// NaN of label 2 propagates into the foreground mean (np.mean).
	fg := Metrics{Dice: nan, IoU: nan, TP: 2. / 3, FP: 1. / 6, FN: 1. / 3, TN: (11./3 + 6) / 2, NPred: 5. / 6, NRef: 1}
	if diff := cmp.Diff(fg, s.ForegroundMean, cmpopts.EquateNaNs(), cmpopts.EquateApprox(0, 1e-15)); diff != "" {
		t.Errorf("foreground mean (-want +got):\n%s", diff)
	}
}

func TestSummarizeErrors(t *testing.T) {
	if _, err := Summarize(nil, []Case{{}}); err == nil {
		t.Error("no classes: want an error")
	}
	if _, err := Summarize([]Class{Label(1)}, nil); err == nil {
		t.Error("no cases: want an error")
	}
	if _, err := Summarize([]Class{Label(1)}, []Case{{Prediction: "x", Counts: []Counts{{}, {}}}}); err == nil || !strings.Contains(err.Error(), "case x") {
		t.Errorf("class count mismatch: error %v", err)
	}
}

// BenchmarkCount counts two labels and a region on a 128³ label map.
func BenchmarkCount(b *testing.B) {
	n := 128 * 128 * 128
	pred, ref := make([]uint8, n), make([]uint8, n)
	for i := range pred {
		pred[i] = uint8(i / 7 % 3)
		ref[i] = uint8(i / 5 % 3)
	}
	classes := []Class{Label(1), Label(2), Region(1, 2)}
	b.SetBytes(int64(2 * n))
	for b.Loop() {
		if _, err := Count(pred, ref, classes, Ignore{}); err != nil {
			b.Fatal(err)
		}
	}
}
