package fingerprint

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/nnrunner/nnrunner/internal/sharedtest"
)

// relErr is |a-b| / |b| (0 when both are 0).
func relErr(a, b float64) float64 {
	if a == b {
		return 0
	}
	return math.Abs(a-b) / math.Abs(b)
}

// compareFingerprint checks every key: shapes exact, floats within tol
// relative; it logs which floats are bit-identical.
func compareFingerprint(t *testing.T, got, want *Fingerprint, tol float64) {
	t.Helper()
	if len(got.ShapesAfterCrop) != len(want.ShapesAfterCrop) {
		t.Fatalf("%d shapes, want %d", len(got.ShapesAfterCrop), len(want.ShapesAfterCrop))
	}
	for i := range want.ShapesAfterCrop {
		if got.ShapesAfterCrop[i] != want.ShapesAfterCrop[i] {
			t.Errorf("shapes_after_crop[%d] = %v, want %v", i, got.ShapesAfterCrop[i], want.ShapesAfterCrop[i])
		}
		if got.Spacings[i] != want.Spacings[i] {
			t.Errorf("spacings[%d] = %v, want %v (bit-exact)", i, got.Spacings[i], want.Spacings[i])
		}
	}
	if e := relErr(got.MedianRelativeSizeAfterCropping, want.MedianRelativeSizeAfterCropping); e > tol {
		t.Errorf("median_relative_size_after_cropping = %v, want %v", got.MedianRelativeSizeAfterCropping, want.MedianRelativeSizeAfterCropping)
	}
	if len(got.Channels) != len(want.Channels) {
		t.Fatalf("%d channels, want %d", len(got.Channels), len(want.Channels))
	}
	for ch := range want.Channels {
		g, w := got.Channels[ch], want.Channels[ch]
		for _, f := range []struct {
			name      string
			got, want float64
		}{{"max", g.Max, w.Max}, {"mean", g.Mean, w.Mean}, {"median", g.Median, w.Median}, {"min", g.Min, w.Min},
			{"percentile_00_5", g.Percentile005, w.Percentile005}, {"percentile_99_5", g.Percentile995, w.Percentile995}, {"std", g.Std, w.Std}} {
			e := relErr(f.got, f.want)
			if e > tol {
				t.Errorf("channel %d %s = %v, want %v (rel. error %.2g)", ch, f.name, f.got, f.want, e)
			} else if e != 0 {
				t.Logf("channel %d %s within tolerance, not bit-identical: %v vs %v", ch, f.name, f.got, f.want)
			}
		}
	}
}

func TestGoldenSynthetic(t *testing.T) {
	golden := sharedtest.Path(t, "golden")
	for _, name := range []string{"Dataset501_SynthCTPre", "Dataset502_SynthCTFine", "Dataset503_SynthMR"} {
		t.Run(name, func(t *testing.T) {
			want, err := ReadFile(filepath.Join(golden, "upstream", name, FileName))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Extract(context.Background(), filepath.Join(golden, "raw", name), Options{Verify: true})
			if err != nil {
				t.Fatal(err)
			}
			compareFingerprint(t, got, want, 1e-6)
			assertSameJSON(t, got, filepath.Join(golden, "upstream", name, FileName))
		})
	}
}

// assertSameJSON checks that WriteFile reproduces upstream's file byte for
// byte when the values are equal.
func assertSameJSON(t *testing.T, f *Fingerprint, upstream string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	if err := f.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(upstream)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Logf("written JSON differs from upstream's bytes (values compared above)")
	} else {
		t.Logf("written JSON is byte-identical to upstream's")
	}
}

// TestGoldenHippocampus compares against upstream on the real MSD
// hippocampus data (192 + 68 cases). It reads 260 volumes and draws 2e8
// samples, so it is skipped with -short.
func TestGoldenHippocampus(t *testing.T) {
	if testing.Short() {
		t.Skip("hippocampus golden comparison reads 260 cases; skipped with -short")
	}
	golden := sharedtest.Path(t, "golden")
	for _, name := range []string{"Dataset004_HippoPre", "Dataset005_HippoFine"} {
		t.Run(name, func(t *testing.T) {
			dir := sharedtest.RawDataset(t, name)
			want, err := ReadFile(filepath.Join(golden, "upstream", name, FileName))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Extract(context.Background(), dir, Options{Verify: true})
			if err != nil {
				t.Fatal(err)
			}
			compareFingerprint(t, got, want, 1e-6)
			assertSameJSON(t, got, filepath.Join(golden, "upstream", name, FileName))
		})
	}
}

// BenchmarkFingerprintHippocampus extracts the fingerprints of the two MSD
// hippocampus datasets (192 + 68 = 260 cases) per iteration, as the stage
// does by default (with the integrity checks) and without them.
// Upstream takes about 7.4 s (2 processes) per dataset on 2 cores (golden
// README).
func BenchmarkFingerprintHippocampus(b *testing.B) {
	dirs := []string{
		sharedtest.RawDataset(b, "Dataset004_HippoPre"),
		sharedtest.RawDataset(b, "Dataset005_HippoFine"),
	}
	for _, bc := range []struct {
		name   string
		verify bool
	}{{"verify", true}, {"noverify", false}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				for _, dir := range dirs {
					if _, err := Extract(context.Background(), dir, Options{Verify: bc.verify}); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
