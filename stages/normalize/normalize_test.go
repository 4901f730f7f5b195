package normalize

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestApply(t *testing.T) {
	s := float32(math.Sqrt(2.0 / 3.0))
	tests := []struct {
		name string
		ch   Channel
		x    []float32
		seg  []int16
		want []float32
	}{
		{"CT clips then standardises", Channel{Scheme: CT, Intensity: &Intensity{Mean: 10, Std: 2, Percentile00_5: 0, Percentile99_5: 20}},
			[]float32{-5, 10, 30, 12}, nil, []float32{-5, 0, 5, 1}},
		{"CT ignores the mask", Channel{Scheme: CT, UseMask: true, Intensity: &Intensity{Mean: 0, Std: 1, Percentile00_5: -1, Percentile99_5: 1}},
			[]float32{-3, 0.5}, []int16{-1, -1}, []float32{-1, 0.5}},
		{"ZScore with mask leaves outside voxels", Channel{Scheme: ZScore, UseMask: true},
			[]float32{1, 2, 3, 0}, []int16{0, 1, 0, -1}, []float32{-1 / s, 0, 1 / s, 0}},
		{"ZScore over all voxels", Channel{Scheme: ZScore},
			[]float32{1, 2, 3}, nil, []float32{-1 / s, 0, 1 / s}},
		{"ZScore of a constant divides by 1e-8", Channel{Scheme: ZScore},
			[]float32{4, 4}, nil, []float32{0, 0}},
		{"NoNormalization", Channel{Scheme: None}, []float32{7, -2}, nil, []float32{7, -2}},
		{"RescaleTo01", Channel{Scheme: RescaleTo01}, []float32{-2, 0, 2}, nil, []float32{0, 0.5, 1}},
		{"RGBTo01", Channel{Scheme: RGBTo01}, []float32{0, 51, 255}, nil, []float32{0, 0.2, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := append([]float32(nil), tc.x...)
			if err := tc.ch.Apply(x, tc.seg); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, x, cmpopts.EquateApprox(0, 1e-6)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestApplyErrors(t *testing.T) {
	tests := []struct {
		name    string
		ch      Channel
		x       []float32
		wantErr string
	}{
		{"unknown scheme", Channel{Scheme: "FancyNormalization"}, []float32{1}, "unknown normalization scheme"},
		{"CT without statistics", Channel{Scheme: CT}, []float32{1}, "needs foreground intensity properties"},
		{"RGB out of range", Channel{Scheme: RGBTo01}, []float32{256}, "outside [0, 255]"},
		{"mask of the wrong size", Channel{Scheme: ZScore, UseMask: true}, []float32{1, 2}, "segmentation has 0 voxels"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.ch.Apply(tc.x, nil)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
