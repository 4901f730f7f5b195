package unet

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// vol is a float64 (C, D, H, W) volume of one sample for the reference.
type vol struct {
	c, d, h, w int
	v          []float64
}

func newVol(c, d, h, w int) vol { return vol{c, d, h, w, make([]float64, c*d*h*w)} }

func (x vol) at(c, z, y, i int) float64 { return x.v[((c*x.d+z)*x.h+y)*x.w+i] }

// pad3 lifts 2-D per-axis values to (D,H,W).
func pad3(v []int, fill int) [3]int {
	if len(v) == 2 {
		return [3]int{fill, v[0], v[1]}
	}
	return [3]int{v[0], v[1], v[2]}
}

func paramData(m *Model, name string) []float64 {
	p, _ := m.Param(name)
	out := make([]float64, len(p.Data))
	for i, v := range p.Data {
		out[i] = float64(v)
	}
	return out
}

// refConv is a direct convolution, PyTorch semantics.
func refConv(m *Model, c convLayer, x vol) vol {
	k, s, p := pad3(c.kernel, 1), pad3(c.stride, 1), pad3(c.pad, 0)
	w := paramData(m, c.name+".weight")
	var b []float64
	if c.bias {
		b = paramData(m, c.name+".bias")
	}
	od, oh, ow := (x.d+2*p[0]-k[0])/s[0]+1, (x.h+2*p[1]-k[1])/s[1]+1, (x.w+2*p[2]-k[2])/s[2]+1
	y := newVol(c.out, od, oh, ow)
	// Loop over weights outermost, so the innermost loop is a plain
	// multiply-add along an output row.
	for o := 0; o < c.out; o++ {
		yo := y.v[o*od*oh*ow : (o+1)*od*oh*ow]
		if b != nil {
			for i := range yo {
				yo[i] = b[o]
			}
		}
		for ci := 0; ci < c.in; ci++ {
			for a := 0; a < k[0]; a++ {
				for bb := 0; bb < k[1]; bb++ {
					for cc := 0; cc < k[2]; cc++ {
						wv := w[(((o*c.in+ci)*k[0]+a)*k[1]+bb)*k[2]+cc]
						for z := 0; z < od; z++ {
							iz := z*s[0] - p[0] + a
							if iz < 0 || iz >= x.d {
								continue
							}
							for yy := 0; yy < oh; yy++ {
								iy := yy*s[1] - p[1] + bb
								if iy < 0 || iy >= x.h {
									continue
								}
								row := x.v[((ci*x.d+iz)*x.h+iy)*x.w : ((ci*x.d+iz)*x.h+iy+1)*x.w]
								out := yo[(z*oh+yy)*ow : (z*oh+yy+1)*ow]
								for xx := range out {
									ix := xx*s[2] - p[2] + cc
									if ix >= 0 && ix < x.w {
										out[xx] += wv * row[ix]
									}
								}
							}
						}
					}
				}
			}
		}
	}
	return y
}

// refConvT is a direct transposed convolution with kernel = stride.
func refConvT(m *Model, c convLayer, x vol) vol {
	k := pad3(c.kernel, 1)
	w := paramData(m, c.name+".weight")
	b := paramData(m, c.name+".bias")
	y := newVol(c.out, x.d*k[0], x.h*k[1], x.w*k[2])
	for o := 0; o < c.out; o++ {
		for z := 0; z < y.d; z++ {
			for yy := 0; yy < y.h; yy++ {
				for xx := 0; xx < y.w; xx++ {
					sum := b[o]
					for ci := 0; ci < c.in; ci++ {
						a, bb, cc := z%k[0], yy%k[1], xx%k[2]
						sum += w[(((ci*c.out+o)*k[0]+a)*k[1]+bb)*k[2]+cc] * x.at(ci, z/k[0], yy/k[1], xx/k[2])
					}
					y.v[((o*y.d+z)*y.h+yy)*y.w+xx] = sum
				}
			}
		}
	}
	return y
}

// refBlock is conv -> instance norm (biased variance) -> LeakyReLU.
func refBlock(m *Model, bl block, x vol) vol {
	y := refConv(m, bl.conv, x)
	g, b := paramData(m, bl.name+".norm.weight"), paramData(m, bl.name+".norm.bias")
	sp := y.d * y.h * y.w
	for c := 0; c < y.c; c++ {
		v := y.v[c*sp : (c+1)*sp]
		var mean, varr float64
		for _, e := range v {
			mean += e
		}
		mean /= float64(sp)
		for _, e := range v {
			varr += (e - mean) * (e - mean)
		}
		varr /= float64(sp)
		for i, e := range v {
			e = g[c]*(e-mean)/math.Sqrt(varr+1e-5) + b[c]
			if e < 0 {
				e *= 0.01
			}
			v[i] = e
		}
	}
	return y
}

// refForward is the whole PlainConvUNet for one sample, without deep supervision.
func refForward(m *Model, x vol) vol {
	var skips []vol
	for _, stage := range m.lay.encoder {
		for _, bl := range stage {
			x = refBlock(m, bl, x)
		}
		skips = append(skips, x)
	}
	n := len(skips)
	for t := range m.lay.decoder {
		u := refConvT(m, m.lay.transp[t], x)
		s := skips[n-2-t]
		cat := vol{u.c + s.c, u.d, u.h, u.w, append(append([]float64(nil), u.v...), s.v...)}
		x = cat
		for _, bl := range m.lay.decoder[t] {
			x = refBlock(m, bl, x)
		}
	}
	return refConv(m, m.lay.seg[n-2], x)
}

// TestForwardMatchesReference runs the Dataset502 networks on a fixed input
// and compares with the direct float64 implementation above.
func TestForwardMatchesReference(t *testing.T) {
	tests := []struct {
		config string
		batch  int
		patch  []int
	}{
		{"3d_fullres", 1, []int{4, 16, 16}},
		{"2d", 2, []int{32, 64}}, // bottleneck 2×4: instance norm over more than 2 values
	}
	for _, tc := range tests {
		t.Run(tc.config, func(t *testing.T) {
			a := goldenArch(t, "Dataset502_SynthCTFine", tc.config)
			m, err := New(Config{Arch: a, InputChannels: 1, NumClasses: 2}, 11)
			if err != nil {
				t.Fatal(err)
			}
			// Non-trivial norm affine and biases, so they are exercised.
			rng := rand.New(rand.NewPCG(1, 1))
			for _, p := range m.Params() {
				if len(p.Shape) == 1 {
					for i := range p.Data {
						p.Data[i] += float32(0.2 * rng.NormFloat64())
					}
				}
			}
			pr, err := m.NewPredictor(tc.batch, tc.patch)
			if err != nil {
				t.Fatal(err)
			}
			defer pr.Close()
			x := make([]float32, numel(pr.InputShape()))
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			got := make([]float32, numel(pr.OutputShape()))
			if err := pr.Forward(x, got); err != nil {
				t.Fatal(err)
			}
			wantShape := append([]int{tc.batch, 2}, tc.patch...)
			if diff := cmp.Diff(wantShape, pr.OutputShape()); diff != "" {
				t.Fatalf("output shape (-want +got):\n%s", diff)
			}
			p3 := pad3(tc.patch, 1)
			per := p3[0] * p3[1] * p3[2]
			var maxErr, maxAbs float64
			for b := 0; b < tc.batch; b++ {
				in := newVol(1, p3[0], p3[1], p3[2])
				for i := range in.v {
					in.v[i] = float64(x[b*per+i])
				}
				want := refForward(m, in)
				for i, w := range want.v {
					maxErr = math.Max(maxErr, math.Abs(float64(got[b*2*per+i])-w))
					maxAbs = math.Max(maxAbs, math.Abs(w))
				}
			}
			t.Logf("max |logit| %.3g, max abs error %.3g", maxAbs, maxErr)
			if maxErr > 1e-4*math.Max(1, maxAbs) {
				t.Errorf("max abs error %.3g exceeds tolerance (max |logit| %.3g)", maxErr, maxAbs)
			}
		})
	}
}

// TestDeepSupervisionShapes checks spec B.7: Dataset991's net on
// (2,1,16,64,56) gives outputs (2,3,16,64,56), (2,3,16,32,28),
// (2,3,16,16,14), (2,3,8,8,7) with weights [0.5714, 0.2857, 0.1429, 0].
func TestDeepSupervisionShapes(t *testing.T) {
	m, err := New(Config{Arch: dataset991Arch(), InputChannels: 1, NumClasses: 3}, 1)
	if err != nil {
		t.Fatal(err)
	}
	gr, err := m.buildGraph(2, []int{16, 64, 56}, true, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]int{{2, 3, 16, 64, 56}, {2, 3, 16, 32, 28}, {2, 3, 16, 16, 14}, {2, 3, 8, 8, 7}}
	var got [][]int
	for _, o := range gr.outputs {
		got = append(got, []int(o.Shape()))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
	w, err := DeepSupervisionWeights(5)
	if err != nil {
		t.Fatal(err)
	}
	wantW := []float64{4.0 / 7, 2.0 / 7, 1.0 / 7, 0}
	if diff := cmp.Diff(wantW, w, cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-12 })); diff != "" {
		t.Errorf("weights (-want +got):\n%s", diff)
	}
	if _, err := DeepSupervisionWeights(2); err == nil {
		t.Error("2 stages: no error")
	}
}

func TestNearestExactDownsample(t *testing.T) {
	if diff := cmp.Diff([]int{1, 3, 5}, nearestExact(6, 3)); diff != "" {
		t.Errorf("factor 2 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{0, 1, 2}, nearestExact(3, 3)); diff != "" {
		t.Errorf("identity (-want +got):\n%s", diff)
	}
	// 2 samples of a 2x4 image -> 1x2 (rows: index 1; columns 1, 3).
	seg := []float32{0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17}
	lv := level{shape: []int{1, 2}, data: make([]float32, 4), maps: [][]int{nearestExact(2, 1), nearestExact(4, 2)}}
	downsample(seg, []int{2, 4}, lv)
	if diff := cmp.Diff([]float32{5, 7, 15, 17}, lv.data); diff != "" {
		t.Errorf("downsample (-want +got):\n%s", diff)
	}
}

func TestBadShapes(t *testing.T) {
	m, err := New(Config{Arch: dataset991Arch(), InputChannels: 1, NumClasses: 3}, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, patch := range [][]int{{16, 64}, {16, 64, 50}, {0, 64, 56}} {
		if _, err := m.NewPredictor(1, patch); err == nil {
			t.Errorf("patch %v: no error", patch)
		}
	}
}
