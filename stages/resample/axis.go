package resample

import "math"

// cubicPole is scipy's pole of the cubic B-spline prefilter, sqrt(3) - 2,
// written as the same literal scipy uses.
const cubicPole = -0.267949192431122706472553658494127633

// cubicPad is the number of edge-replicated voxels scipy.ndimage.zoom adds on
// each side of the input before prefiltering in mode "nearest".
const cubicPad = 12

// maxTaps is the largest number of taps of an order 0 or 1 axis map.
const maxTaps = 2

// axisMap holds, for every output index along one axis, the input indices and
// interpolation weights scipy.ndimage uses in mode "nearest" with
// grid_mode=True.
type axisMap struct {
	in, out int
	order   int
	// start and cubic hold the first padded index and the four weights of
	// each output index (order 3).
	start []int
	cubic [][4]float64
	// ntap, idx and w hold the taps with a nonzero weight (orders 0 and 1),
	// indices already clamped to [0, in-1].
	ntap []int
	idx  [][maxTaps]int
	w    [][maxTaps]float64
}

// identity reports whether the map copies the input unchanged.
func (m *axisMap) identity() bool { return m.in == m.out }

// newAxisMap computes the sampling positions of resizing in to out samples:
// c = (o + 0.5) * (in / out) - 0.5, evaluated in scipy's order.
func newAxisMap(in, out, order int) *axisMap {
	m := &axisMap{in: in, out: out, order: order}
	zoom := float64(in) / float64(out)
	switch order {
	case 3:
		m.start = make([]int, out)
		m.cubic = make([][4]float64, out)
		for o := 0; o < out; o++ {
			cc := float64(o)
			cc += 0.5
			cc *= zoom
			cc -= 0.5
			cc += cubicPad
			fl := math.Floor(cc)
			m.start[o] = int(fl) - 1
			m.cubic[o] = cubicWeights(cc - fl)
		}
	default:
		m.ntap = make([]int, out)
		m.idx = make([][maxTaps]int, out)
		m.w = make([][maxTaps]float64, out)
		for o := 0; o < out; o++ {
			cc := float64(o)
			cc += 0.5
			cc *= zoom
			cc -= 0.5
			if order == 0 {
				m.ntap[o] = 1
				m.idx[o][0] = clampIndex(int(math.Floor(cc+0.5)), in)
				m.w[o][0] = 1
				continue
			}
			fl := math.Floor(cc)
			x := cc - fl
			w0 := 1.0 - x
			w1 := 1.0 - w0
			n := 0
			for k, wk := range [2]float64{w0, w1} {
				if wk == 0 {
					continue
				}
				m.idx[o][n] = clampIndex(int(fl)+k, in)
				m.w[o][n] = wk
				n++
			}
			m.ntap[o] = n
		}
	}
	return m
}

// cubicWeights returns scipy's cubic B-spline weights for the fractional
// offset x in [0, 1), the last one computed as 1 minus the others.
func cubicWeights(x float64) [4]float64 {
	y := x
	z := 1.0 - x
	var w [4]float64
	w[1] = (y*y*(y-2.0)*3.0 + 4.0) / 6.0
	w[2] = (z*z*(z-2.0)*3.0 + 4.0) / 6.0
	w[0] = z * z * z / 6.0
	w[3] = 1.0
	w[3] -= w[0]
	w[3] -= w[1]
	w[3] -= w[2]
	return w
}

func clampIndex(i, n int) int {
	if i < 0 {
		return 0
	}
	if i > n-1 {
		return n - 1
	}
	return i
}

// cubicGain is the prefilter gain (1 - z)(1 - 1/z) computed as scipy does.
var cubicGain = (1.0 - cubicPole) * (1.0 - 1.0/cubicPole)

// prefilterLines applies scipy's cubic B-spline prefilter with mirror
// boundaries in place to w interleaved lines of length n: element p of line
// j is c[p*w+j].
func prefilterLines(c []float64, n, w int) {
	if n < 2 {
		return
	}
	if w == 1 {
		prefilterLine(c[:n])
		return
	}
	const z = cubicPole
	for i := range c[:n*w] {
		c[i] *= cubicGain
	}
	zn1 := math.Pow(z, float64(n-1))
	den := 1 - zn1*zn1
	last := (n - 1) * w
	for j := 0; j < w; j++ {
		c0 := c[j] + zn1*c[last+j]
		zi := z
		for i := 1; i < n-1; i++ {
			c0 += zi * (c[i*w+j] + zn1*c[(n-1-i)*w+j])
			zi *= z
		}
		c[j] = c0 / den
	}
	for p := 1; p < n; p++ {
		row, prev := c[p*w:(p+1)*w], c[(p-1)*w:p*w]
		for j := range row {
			row[j] += z * prev[j]
		}
	}
	pen := (n - 2) * w
	for j := 0; j < w; j++ {
		c[last+j] = (z*c[pen+j] + c[last+j]) * z / (z*z - 1)
	}
	for p := n - 2; p >= 0; p-- {
		row, next := c[p*w:(p+1)*w], c[(p+1)*w:(p+2)*w]
		for j := range row {
			row[j] = z * (next[j] - row[j])
		}
	}
}

// prefilterLine is prefilterLines for a single contiguous line.
func prefilterLine(c []float64) {
	const z = cubicPole
	n := len(c)
	for i := range c {
		c[i] *= cubicGain
	}
	zn1 := math.Pow(z, float64(n-1))
	c0 := c[0] + zn1*c[n-1]
	zi := z
	for i := 1; i < n-1; i++ {
		c0 += zi * (c[i] + zn1*c[n-1-i])
		zi *= z
	}
	c[0] = c0 / (1 - zn1*zn1)
	for p := 1; p < n; p++ {
		c[p] += z * c[p-1]
	}
	c[n-1] = (z*c[n-2] + c[n-1]) * z / (z*z - 1)
	for p := n - 2; p >= 0; p-- {
		c[p] = z * (c[p+1] - c[p])
	}
}
