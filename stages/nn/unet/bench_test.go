package unet

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/nnrunner/nnrunner/internal/sharedtest"
	"github.com/nnrunner/nnrunner/stages/nn/kernels"
	"github.com/nnrunner/nnrunner/stages/nn/optim"
	"github.com/nnrunner/nnrunner/stages/plans"
)

// benchTrainStep times one nnU-Net training step (forward, deep-supervised
// DC+CE loss, backward, clipping, SGD) of a golden plans' 3d_fullres net.
func benchTrainStep(b *testing.B, dataset string, batch int, patch []int, inCh, classes int) {
	path := filepath.Join(sharedtest.Dir(b), "golden", "upstream", dataset, "nnUNetPlans.json")
	pl, err := plans.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := pl.Configuration("3d_fullres")
	if err != nil {
		b.Fatal(err)
	}
	netCfg, err := ConfigFromPlans(cfg, inCh, classes)
	if err != nil {
		b.Fatal(err)
	}
	if patch == nil {
		patch = cfg.PatchSize
	}
	m, err := New(netCfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	tr, err := m.NewTrainer(TrainOptions{Batch: batch, Patch: patch, Loss: kernels.NewDiceCE(cfg.BatchDice), DeepSupervision: true})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	voxels := batch
	for _, p := range patch {
		voxels *= p
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, voxels*inCh)
	seg := make([]float32, voxels)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	for i := range seg {
		seg[i] = float32(rng.IntN(classes))
	}
	opt := optim.NewSGD(optim.Momentum, optim.WeightDecay)
	// One warm-up step allocates the op buffers.
	if _, err := tr.Step(x, seg, opt, optim.InitialLR); err != nil {
		b.Fatal(err)
	}
	cpu0 := cpuSeconds()
	b.ResetTimer()
	for range b.N {
		if _, err := tr.Step(x, seg, opt, optim.InitialLR); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(sec, "s/step")
	// CPU time per step (all threads, OpenBLAS's included) shows the work
	// done independently of how contended the machine was.
	b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/step")
	b.ReportMetric(float64(voxels)/sec, "voxels/s")
	if mb, ok := peakRSSMiB(); ok {
		b.ReportMetric(mb, "peakRSS-MiB")
	}
}

// cpuSeconds is the process's user+system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// peakRSSMiB reads the process's peak resident set size (Linux VmHWM).
func peakRSSMiB() (float64, bool) {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024, err == nil
		}
	}
	return 0, false
}

// BenchmarkTrainStepSynthMR is issue 6's case (a): batch 2, patch 32×40×40,
// 2 input channels, 3 classes, Dataset503_SynthMR's 3d_fullres architecture
// (PyTorch 1.13 CPU, 2 threads: 1.50 s/step on the reference machine).
func BenchmarkTrainStepSynthMR(b *testing.B) {
	benchTrainStep(b, "Dataset503_SynthMR", 2, []int{32, 40, 40}, 2, 3)
}

// BenchmarkTrainStepHippocampus is case (b): the MSD Hippocampus 3d_fullres
// plan as planned (batch 2, patch 40×56×40, 1 channel, 3 classes).
func BenchmarkTrainStepHippocampus(b *testing.B) {
	benchTrainStep(b, "Dataset005_HippoFine", 2, nil, 1, 3)
}
