package kernels

import (
	"syscall"
	"testing"
	"time"
)

// benchConv is a 3x3x3 convolution of the nnU-Net full-resolution stage at
// the benchmark size: batch 2, patch 32x40x40, 32→32 channels.
var benchConv = ConvGeom{N: 2, InC: 32, OutC: 32, In: [3]int{32, 40, 40},
	Kernel: [3]int{3, 3, 3}, Stride: [3]int{1, 1, 1}, Pad: [3]int{1, 1, 1}}

// benchConvDown is the strided first conv of the next stage: 32→64, stride 2.
var benchConvDown = ConvGeom{N: 2, InC: 32, OutC: 64, In: [3]int{32, 40, 40},
	Kernel: [3]int{3, 3, 3}, Stride: [3]int{2, 2, 2}, Pad: [3]int{1, 1, 1}}

// reportGFLOPs reports wall-clock GFLOP/s and, because the benchmark boxes
// are shared, the process CPU time per op (all threads, OpenBLAS's included),
// which other processes do not inflate. Call startCPU before the loop.
func reportGFLOPs(b *testing.B, flops float64, cpu0 time.Duration) {
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	reportCPU(b, cpu0)
}

func reportCPU(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

// cpuTime is the user+system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchConvPass(b *testing.B, g ConvGeom, pass string) {
	x := to32(randSlice(1, g.InLen()))
	w := to32(randSlice(2, g.WeightLen()))
	bias := to32(randSlice(3, g.OutC))
	y := to32(randSlice(4, g.OutLen()))
	dx := make([]float32, g.InLen())
	dw := make([]float32, g.WeightLen())
	db := make([]float32, g.OutC)
	var ws Workspace
	cpu0 := cpuTime()
	for b.Loop() {
		switch pass {
		case "forward":
			ConvForward(&ws, g, x, w, bias, y)
		case "data":
			ConvBackwardData(&ws, g, y, w, dx)
		case "filter":
			ConvBackwardFilter(&ws, g, x, y, dw, db)
		}
	}
	reportGFLOPs(b, g.FLOPs(), cpu0)
}

func BenchmarkConv3dForward(b *testing.B)             { benchConvPass(b, benchConv, "forward") }
func BenchmarkConv3dBackwardData(b *testing.B)        { benchConvPass(b, benchConv, "data") }
func BenchmarkConv3dBackwardFilter(b *testing.B)      { benchConvPass(b, benchConv, "filter") }
func BenchmarkConv3dStride2Forward(b *testing.B)      { benchConvPass(b, benchConvDown, "forward") }
func BenchmarkConv3dStride2BackwardData(b *testing.B) { benchConvPass(b, benchConvDown, "data") }
func BenchmarkConv3dStride2BackwardFilter(b *testing.B) {
	benchConvPass(b, benchConvDown, "filter")
}

func BenchmarkConvTranspose3dForward(b *testing.B) {
	g := ConvTransposeGeom{N: 2, InC: 64, OutC: 32, In: [3]int{16, 20, 20},
		Kernel: [3]int{2, 2, 2}, Stride: [3]int{2, 2, 2}}
	x, w := to32(randSlice(1, g.InLen())), to32(randSlice(2, g.WeightLen()))
	bias, y := to32(randSlice(3, g.OutC)), make([]float32, g.OutLen())
	var ws Workspace
	cpu0 := cpuTime()
	for b.Loop() {
		ConvTransposeForward(&ws, g, x, w, bias, y)
	}
	reportGFLOPs(b, g.FLOPs(), cpu0)
}

func BenchmarkInstanceNormForwardBackward(b *testing.B) {
	const n, c, s = 2, 32, 32 * 40 * 40
	x := to32(randSlice(1, n*c*s))
	gamma, beta := to32(randSlice(2, c)), to32(randSlice(3, c))
	y, dx := make([]float32, len(x)), make([]float32, len(x))
	mean, rstd := make([]float32, n*c), make([]float32, n*c)
	dg, db := make([]float32, c), make([]float32, c)
	cpu0 := cpuTime()
	for b.Loop() {
		InstanceNormForward(x, gamma, beta, n, c, s, InstanceNormEps, y, mean, rstd)
		InstanceNormBackward(x, gamma, mean, rstd, y, n, c, s, dx, dg, db)
	}
	b.SetBytes(int64(len(x)) * 4)
	reportCPU(b, cpu0)
}

func BenchmarkDiceCELoss(b *testing.B) {
	const n, c, s = 2, 3, 32 * 40 * 40
	cfg := NewDiceCE(false)
	l64, t64 := lossInputs(cfg, n, c, s)
	logits, target := to32(l64), to32(t64)
	d := make([]float32, len(logits))
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := DiceCELoss(cfg, logits, target, n, c, s, 1, d); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(logits)) * 4)
	reportCPU(b, cpu0)
}

func BenchmarkLeakyReLUForwardBackward(b *testing.B) {
	x := to32(randSlice(1, 2*32*32*40*40))
	y, dx := make([]float32, len(x)), make([]float32, len(x))
	cpu0 := cpuTime()
	for b.Loop() {
		LeakyReLUForward(x, y, LeakyReLUSlope)
		LeakyReLUBackward(y, x, dx, LeakyReLUSlope)
	}
	b.SetBytes(int64(len(x)) * 4)
	reportCPU(b, cpu0)
}

// BenchmarkConvStep runs forward, backward-data and backward-filter of the
// 3x3x3 convolutions of the SynthMR 3d_fullres U-Net at the issue's
// benchmark size (batch 2, patch 32x40x40), one sub-benchmark per shape.
func BenchmarkConvStep(b *testing.B) {
	conv := func(c, oc int, in [3]int, s [3]int) ConvGeom {
		return ConvGeom{N: 2, InC: c, OutC: oc, In: in, Kernel: [3]int{3, 3, 3}, Stride: s, Pad: [3]int{1, 1, 1}}
	}
	one, two := [3]int{1, 1, 1}, [3]int{2, 2, 2}
	cases := []struct {
		name string
		g    ConvGeom
	}{
		{"s0_2to32", conv(2, 32, [3]int{32, 40, 40}, one)},
		{"s0_32to32", conv(32, 32, [3]int{32, 40, 40}, one)},
		{"s0_64to32", conv(64, 32, [3]int{32, 40, 40}, one)},
		{"s1_32to64_stride2", conv(32, 64, [3]int{32, 40, 40}, two)},
		{"s1_64to64", conv(64, 64, [3]int{16, 20, 20}, one)},
		{"s2_64to128_stride2", conv(64, 128, [3]int{16, 20, 20}, two)},
		{"s2_128to128", conv(128, 128, [3]int{8, 10, 10}, one)},
		{"s3_128to256_stride122", conv(128, 256, [3]int{8, 10, 10}, [3]int{1, 2, 2})},
		{"s3_256to256", conv(256, 256, [3]int{8, 5, 5}, one)},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			g := tc.g
			x, w := to32(randSlice(1, g.InLen())), to32(randSlice(2, g.WeightLen()))
			y, dx := make([]float32, g.OutLen()), make([]float32, g.InLen())
			dw, db := make([]float32, g.WeightLen()), make([]float32, g.OutC)
			var ws Workspace
			cpu0 := cpuTime()
			for b.Loop() {
				ConvForward(&ws, g, x, w, db, y)
				ConvBackwardData(&ws, g, y, w, dx)
				ConvBackwardFilter(&ws, g, x, y, dw, db)
			}
			reportGFLOPs(b, 3*g.FLOPs(), cpu0)
		})
	}
}
