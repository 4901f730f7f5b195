package augment

import "math"

// blurKernel returns the normalised Gaussian taps for sigma (batchgeneratorsv2
// kernel size rule: v = 6σ + 0.5, k = round(v), an even k moved to the odd
// neighbour on v's side).
func blurKernel(sigma float64, dst []float64) []float64 {
	v := 6*sigma + 0.5
	k := int(math.RoundToEven(v))
	if k%2 == 0 {
		if v >= float64(k) {
			k++
		} else {
			k--
		}
	}
	dst = dst[:0]
	var sum float64
	for i := range k {
		x := float64(i) - float64(k-1)/2
		w := math.Exp(-x * x / (2 * sigma * sigma))
		dst = append(dst, w)
		sum += w
	}
	for i := range dst {
		dst[i] /= sum
	}
	return dst
}

// reflect maps an index into [0, n) by mirroring without repeating the edge.
func reflect(i, n int) int {
	if n == 1 {
		return 0
	}
	for i < 0 || i >= n {
		if i < 0 {
			i = -i
		}
		if i >= n {
			i = 2*(n-1) - i
		}
	}
	return i
}

// blur convolves one channel with a separable Gaussian, axis by axis, with
// reflect padding.
func (a *Augmenter) blur(x []float32, sigma [3]float64) {
	p := a.cfg.Patch
	var kbuf [16]float64
	strides := [3]int{p[1] * p[2], p[2], 1}
	for ax := range 3 {
		k := blurKernel(sigma[ax], kbuf[:0])
		r := len(k) / 2
		L, st := p[ax], strides[ax]
		// Every line along ax starts at an index whose ax-coordinate is 0.
		for base := range x {
			if (base/st)%L != 0 {
				continue
			}
			for i := range L {
				var s float64
				for t, w := range k {
					s += w * float64(x[base+reflect(i+t-r, L)*st])
				}
				a.tmp[base+i*st] = float32(s)
			}
		}
		copy(x, a.tmp)
	}
}

// lowRes downsamples one channel by scale (nearest-exact, to round(size·
// scale) per axis; axis 0 kept when dummy 2-D) and upsamples it back with
// trilinear interpolation, align_corners=False.
func (a *Augmenter) lowRes(x []float32, scale float64) {
	p := a.cfg.Patch
	var m [3]int
	for i := range 3 {
		s := scale
		if i == 0 && a.cfg.Dummy2D {
			s = 1
		}
		m[i] = max(1, int(math.RoundToEven(float64(p[i])*s)))
	}
	small := a.small[:m[0]*m[1]*m[2]]
	var near [3][]int
	for i := range 3 {
		near[i] = nearestExact(p[i], m[i])
	}
	o := 0
	for xi := range m[0] {
		for yi := range m[1] {
			for zi := range m[2] {
				small[o] = x[(near[0][xi]*p[1]+near[1][yi])*p[2]+near[2][zi]]
				o++
			}
		}
	}
	var i0, i1 [3][]int
	var w [3][]float32
	for ax := range 3 {
		i0[ax], i1[ax], w[ax] = linearTaps(m[ax], p[ax])
	}
	o = 0
	for xi := range p[0] {
		for yi := range p[1] {
			for zi := range p[2] {
				var v float32
				for c := range 8 {
					wx, ix := tap(c>>2&1, xi, i0[0], i1[0], w[0])
					wy, iy := tap(c>>1&1, yi, i0[1], i1[1], w[1])
					wz, iz := tap(c&1, zi, i0[2], i1[2], w[2])
					v += wx * wy * wz * small[(ix*m[1]+iy)*m[2]+iz]
				}
				x[o] = v
				o++
			}
		}
	}
}

func tap(bit, o int, i0, i1 []int, w []float32) (float32, int) {
	if bit == 0 {
		return 1 - w[o], i0[o]
	}
	return w[o], i1[o]
}

// nearestExact maps out indices onto in indices: floor((o + 0.5)·in/out),
// clamped (PyTorch's nearest-exact).
func nearestExact(in, out int) []int {
	m := make([]int, out)
	for o := range m {
		m[o] = min(int(math.Floor((float64(o)+0.5)*float64(in)/float64(out))), in-1)
	}
	return m
}

// linearTaps gives, per output index, the two source indices and the weight
// of the second for linear upsampling from in to out, align_corners=False.
func linearTaps(in, out int) (i0, i1 []int, w []float32) {
	i0, i1, w = make([]int, out), make([]int, out), make([]float32, out)
	scale := float64(in) / float64(out)
	for o := range out {
		src := max(scale*(float64(o)+0.5)-0.5, 0)
		f := int(math.Floor(src))
		i0[o], i1[o] = min(f, in-1), min(f+1, in-1)
		w[o] = float32(src - float64(f))
	}
	return i0, i1, w
}
