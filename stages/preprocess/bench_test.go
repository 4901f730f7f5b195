package preprocess

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nnrunner/nnrunner/internal/sharedtest"
)

// cpuSeconds returns the user plus system CPU time of the process so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// peakRSSMiB returns the process's peak resident set size (VmHWM) in MiB,
// or 0 where /proc is unavailable.
func peakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.Atoi(f[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

// benchRuns times b.N runs of the stage for every run, then checks one
// more run's outputs against upstream's summaries (untimed).
// The process CPU time per run is reported too: on a shared machine it is a
// steadier measure than wall time.
func benchRuns(b *testing.B, shared string, runs []summaryRun, raws []string) {
	cpu0 := cpuSeconds()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k, r := range runs {
			runStage(b, shared, r, raws[k])
		}
	}
	b.StopTimer()
	b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/op")
	b.ReportMetric(peakRSSMiB(), "peak-RSS-MiB")
	for k, r := range runs {
		runAndCheck(b, shared, r, raws[k])
	}
}

// runStage runs the stage for r into a fresh folder (timed).
func runStage(b *testing.B, shared string, r summaryRun, raw string) {
	out := b.TempDir()
	req := request0(b, out, raw, filepath.Join(shared, "golden", "upstream", r.dataset, r.plans+".json"), r.config)
	if err := New().Run(b.Context(), req); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPreprocessHippocampus preprocesses 3d_fullres for the 260 MSD
// Hippocampus cases as the golden run did: Dataset004 (192 cases) with the
// transferred plans and Dataset005 (68 cases) with its own (upstream: 6.04 s
// + 3.96 s on 2 processes). The outputs are checked against upstream's
// summaries (every case) after the timed runs.
func BenchmarkPreprocessHippocampus(b *testing.B) {
	shared := sharedDir(b)
	runs := []summaryRun{
		{"Dataset004_HippoPre", "nnUNetPlans_pretrain", "3d_fullres"},
		{"Dataset005_HippoFine", "nnUNetPlans", "3d_fullres"},
	}
	raws := []string{sharedtest.RawDataset(b, "Dataset004_HippoPre"), sharedtest.RawDataset(b, "Dataset005_HippoFine")}
	benchRuns(b, shared, runs, raws)
}

// BenchmarkPreprocessSynthCT preprocesses the golden CT datasets, 3d_fullres
// (upstream 2 processes: 501 4.07-4.11 s, 502 3.51-3.77 s; in-process
// single core 1.14 s and 1.08 s).
func BenchmarkPreprocessSynthCT(b *testing.B) {
	shared := sharedDir(b)
	for _, r := range []summaryRun{
		{"Dataset501_SynthCTPre", "nnUNetPlans", "3d_fullres"},
		{"Dataset502_SynthCTFine", "nnUNetPlans", "3d_fullres"},
	} {
		b.Run(r.dataset, func(b *testing.B) {
			benchRuns(b, shared, []summaryRun{r}, []string{filepath.Join(shared, "golden", "raw", r.dataset)})
		})
	}
}
