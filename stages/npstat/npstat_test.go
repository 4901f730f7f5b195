package npstat

import (
	"math"
	"testing"
)

// Vectors from Appendix B.2 of the spec (numpy 1.24).
func TestGoldenReductions(t *testing.T) {
	x := make([]float32, 20000)
	for i := range x {
		x[i] = float32(i) * float32(0.1)
	}
	y := make([]float32, 100000)
	for i := range y {
		y[i] = float32(math.Sqrt(float64(float32(i + 1))))
	}
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"x sum", float64(Sum(x)), 19999000.0},
		{"x mean", float64(Mean(x)), 999.9500122070312},
		{"x std", float64(Std(x)), 577.3502807617188},
		{"x p0.5", Percentile(x, 0.5), 9.999500002861023},
		{"x p50", Percentile(x, 50), 999.9500122070312},
		{"x p99.5", Percentile(x, 99.5), 1989.9005242919923},
		{"y sum", float64(Sum(y)), 21082012.0},
		{"y mean", float64(Mean(y)), 210.8201141357422},
		{"y std", float64(Std(y)), 74.53448486328125},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v (bit-exact)", tc.name, tc.got, tc.want)
		}
	}
}

func TestSmallCases(t *testing.T) {
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"sum of 3", float64(Sum([]float32{1, 2, 3.5})), 6.5},
		{"sum empty", float64(Sum[float32](nil)), 0},
		{"percentile single", Percentile([]float32{4}, 99.5), 4},
		{"percentile unsorted", Percentile([]float32{3, 1, 2}, 50), 2},
		{"percentile interpolate", Percentile([]float32{0, 10}, 25), 2.5},
		{"percentile upper branch", Percentile([]float32{0, 10}, 75), 7.5},
		{"median odd", Median64([]float64{3, 1, 2}), 2},
		{"median even", Median64([]float64{4, 1, 2, 3}), 2.5},
		{"std constant", float64(Std([]float32{2, 2, 2})), 0},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	// float64 arrays use the same algorithm in float64.
	z := make([]float64, 20000)
	for i := range z {
		z[i] = float64(i) * 0.5
	}
	if got := Sum(z); got != 99995000 {
		t.Errorf("float64 sum = %v", got)
	}
	if got := Mean(z); got != 4999.75 {
		t.Errorf("float64 mean = %v", got)
	}
	// Half-integer spacing: the float32 difference of neighbours would round,
	// float64 keeps it.
	if got, want := Percentile([]float64{0, 1e9 + 0.5}, 50), 5.0000000025e8; got != want {
		t.Errorf("float64 percentile = %v, want %v", got, want)
	}
	if !math.IsNaN(Median64(nil)) {
		t.Error("median of empty slice should be NaN")
	}
}

func BenchmarkSum(b *testing.B) {
	a := make([]float32, 1<<20)
	for i := range a {
		a[i] = float32(i % 977)
	}
	b.SetBytes(int64(len(a)) * 4)
	for b.Loop() {
		Sum(a)
	}
}
