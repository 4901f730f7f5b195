package kernels

import "math"

// InstanceNormEps is nnU-Net's instance-norm epsilon.
const InstanceNormEps = 1e-5

// InstanceNormForward normalises every (sample, channel) plane of x, shaped
// (n, c, spatial), with its own mean and population variance, then applies
// the per-channel affine transform: y = gamma·(x − mean)·rstd + beta with
// rstd = 1/sqrt(var + eps). mean and rstd (n·c each) receive the statistics
// the backward pass needs. y may alias x. Statistics are accumulated in
// float64.
func InstanceNormForward[T Float](x, gamma, beta []T, n, c, spatial int, eps float64, y, mean, rstd []T) {
	instanceNormForward(x, gamma, beta, n, c, spatial, eps, 1, y, mean, rstd)
}

// InstanceNormLeakyReLUForward computes y = LeakyReLU(InstanceNorm(x)), the
// results of InstanceNormForward followed by LeakyReLUForward, in one pass
// over memory fewer: each piece of a plane is activated while in cache.
// mean and rstd receive the norm's statistics. y may alias x.
func InstanceNormLeakyReLUForward[T Float](x, gamma, beta []T, n, c, spatial int, eps float64, slope T, y, mean, rstd []T) {
	instanceNormForward(x, gamma, beta, n, c, spatial, eps, slope, y, mean, rstd)
}

// normPiece is how many elements of a plane the fused norm and activation
// passes handle at a time, so that the piece is still in L1 for the second
// loop over it.
const normPiece = 2048

// instanceNormForward is InstanceNormForward followed by a LeakyReLU of the
// given slope; slope 1 is the identity (x·1 is exact) and is skipped.
func instanceNormForward[T Float](x, gamma, beta []T, n, c, spatial int, eps float64, slope T, y, mean, rstd []T) {
	mustLen("instance norm input", x, n*c*spatial)
	mustLen("instance norm output", y, n*c*spatial)
	mustLen("instance norm gamma", gamma, c)
	mustLen("instance norm beta", beta, c)
	mustLen("instance norm mean", mean, n*c)
	mustLen("instance norm rstd", rstd, n*c)
	parallelFor(n*c, max(1, 1<<14/spatial), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xs := x[i*spatial : (i+1)*spatial]
			m, v := moments(xs)
			r := 1 / math.Sqrt(v+eps)
			mean[i], rstd[i] = T(m), T(r)
			ch := i % c
			scale, mt, b := normScale(gamma[ch], r), T(m), beta[ch]
			normAct(xs, y[i*spatial:(i+1)*spatial], mt, scale, b, slope)
		}
	})
}

// normAct writes y = (x − mean)·scale + beta followed, unless slope is 1,
// by a LeakyReLU; float32 runs in AVX2 where the CPU has it, with the same
// roundings.
func normAct[T Float](x, y []T, mean, scale, beta, slope T) {
	y = y[:len(x)]
	if x32, ok := any(x).([]float32); ok && haveDirect {
		if n := len(x) / 8 * 8; n > 0 {
			normAct32(&x32[0], &any(y).([]float32)[0], n, float32(mean), float32(scale), float32(beta), float32(slope))
			x, y = x[n:], y[n:]
		}
	}
	for j0 := 0; j0 < len(x); j0 += normPiece {
		j1 := min(j0+normPiece, len(x))
		normalize(x[j0:j1], y[j0:j1], mean, scale, beta)
		if slope != 1 {
			scaleBySign(y[j0:j1], y[j0:j1], y[j0:j1], slope)
		}
	}
}

// normScale is the factor gamma·rstd of the normalisation, rounded to T.
func normScale[T Float](gamma T, rstd float64) T { return T(float64(gamma) * rstd) }

// normalize writes y = (x − mean)·scale + beta, each product rounded to T
// before the sum (never fused), so that the fused backward pass recomputes
// the same values.
func normalize[T Float](x, y []T, mean, scale, beta T) {
	y = y[:len(x)]
	for j, v := range x {
		y[j] = T((v-mean)*scale) + beta
	}
}

// InstanceNormBackward computes dx, dgamma and dbeta from the forward input
// x, gamma, the saved mean and rstd, and the output gradient dy. dx may alias
// dy. dgamma and dbeta are summed over the batch.
func InstanceNormBackward[T Float](x, gamma, mean, rstd, dy []T, n, c, spatial int, dx, dgamma, dbeta []T) {
	instanceNormBackward(x, gamma, nil, mean, rstd, dy, n, c, spatial, 1, dx, dgamma, dbeta)
}

// InstanceNormLeakyReLUBackward is the backward pass of
// InstanceNormLeakyReLUForward: from its input x, gamma, beta, the saved mean
// and rstd and the output gradient dy it computes dx, dgamma and dbeta (summed
// over the batch). The activation's sign is recomputed from x, so the forward
// output is not read. dx may alias dy.
func InstanceNormLeakyReLUBackward[T Float](x, gamma, beta, mean, rstd, dy []T, n, c, spatial int, slope T, dx, dgamma, dbeta []T) {
	mustLen("instance norm beta", beta, c)
	instanceNormBackward(x, gamma, beta, mean, rstd, dy, n, c, spatial, slope, dx, dgamma, dbeta)
}

// instanceNormBackward is InstanceNormBackward, behind a LeakyReLU of the
// given slope when beta is not nil.
func instanceNormBackward[T Float](x, gamma, beta, mean, rstd, dy []T, n, c, spatial int, slope T, dx, dgamma, dbeta []T) {
	mustLen("instance norm input", x, n*c*spatial)
	mustLen("instance norm output gradient", dy, n*c*spatial)
	mustLen("instance norm input gradient", dx, n*c*spatial)
	mustLen("instance norm gamma", gamma, c)
	mustLen("instance norm gamma gradient", dgamma, c)
	mustLen("instance norm beta gradient", dbeta, c)
	mustLen("instance norm mean", mean, n*c)
	mustLen("instance norm rstd", rstd, n*c)
	// Per-plane Σdy and Σdy·x̂, combined over the batch in a fixed order.
	sdy := make([]float64, 2*n*c)
	sdyx := sdy[n*c:]
	parallelFor(n*c, max(1, 1<<13/spatial), func(lo, hi int) {
		act := make([]T, normPiece) // the forward's normalised values, one piece at a time
		for i := lo; i < hi; i++ {
			xs := x[i*spatial : (i+1)*spatial]
			ds := dy[i*spatial : (i+1)*spatial]
			dxs := dx[i*spatial : (i+1)*spatial]
			m, r := float64(mean[i]), float64(rstd[i])
			mt := T(m)
			g := float64(gamma[i%c]) * r
			// The norm's output gradient, written to dx: dy, or slope·dy
			// where the forward's norm output was not positive (slope 1
			// without an activation).
			var a, b float64
			if beta != nil {
				a, b = actGradSums(xs, ds, dxs, m, normScale(gamma[i%c], r), beta[i%c], slope, act)
			} else {
				a, b = actGradSums(xs, ds, dxs, m, 1, 0, 1, act)
			}
			b *= r
			sdy[i], sdyx[i] = a, b
			inv := 1 / float64(spatial)
			// dx = g·(dy − a/S − x̂·b/S), x̂ = (x − m)·r.
			normGrad(xs, dxs, mt, T(-g*a*inv), T(g), T(g*b*inv*r))
		}
	})
	for ch := range c {
		var a, b float64
		for s := range n {
			a += sdy[s*c+ch]
			b += sdyx[s*c+ch]
		}
		dbeta[ch], dgamma[ch] = T(a), T(b)
	}
}

// actGradSums writes to dx the output gradient of the norm under a
// LeakyReLU, dy·(1 where t > 0, else slope) with t the forward's normalised
// value recomputed from x (as normAct does; slope 1 copies dy), and returns
// Σdx and Σdx·(x − m) in float64. act is scratch of normPiece elements.
func actGradSums[T Float](x, dy, dx []T, m float64, scale, beta, slope T, act []T) (a, b float64) {
	mt := T(m)
	if x32, ok := any(x).([]float32); ok && haveDirect {
		if n := len(x) / 8 * 8; n > 0 {
			a, b = normGradSums32(&x32[0], &any(dy).([]float32)[0], &any(dx).([]float32)[0], n,
				float32(mt), float32(scale), float32(beta), float32(slope), m)
			x, dy, dx = x[n:], dy[n:], dx[n:]
		}
	}
	for j0 := 0; j0 < len(x); j0 += normPiece {
		j1 := min(j0+normPiece, len(x))
		t := act[:j1-j0]
		normalize(x[j0:j1], t, mt, scale, beta)
		scaleBySign(t, dy[j0:j1], dx[j0:j1], slope)
	}
	ta, tb := gradSums(x, dx, m)
	return a + ta, b + tb
}

// gradSums returns Σd and Σd·(x − m) in float64, in order.
func gradSums[T Float](x, d []T, m float64) (a, b float64) {
	for j, v := range d[:len(x)] {
		a += float64(v)
		b += float64(v) * (float64(x[j]) - m)
	}
	return a, b
}

// normGrad overwrites d with k1·d − k2·(x − mean) + k0, the input gradient
// of the normalisation.
func normGrad[T Float](x, d []T, mean, k0, k1, k2 T) {
	d = d[:len(x)]
	if x32, ok := any(x).([]float32); ok && haveDirect {
		if n := len(x) / 8 * 8; n > 0 {
			normGrad32(&x32[0], &any(d).([]float32)[0], n, float32(mean), float32(k0), float32(k1), float32(k2))
			x, d = x[n:], d[n:]
		}
	}
	for j, v := range d {
		d[j] = k1*v - k2*(x[j]-mean) + k0
	}
}

// moments returns the mean and population variance of v in one pass:
// float64 sums of v − v[0] and its square (the shift keeps the difference of
// squares well conditioned). float32 runs in AVX2 where the CPU has it.
func moments[T Float](v []T) (mean, variance float64) {
	shift := float64(v[0])
	var s0, s1, q0, q1 float64
	i := 0
	if v32, ok := any(v).([]float32); ok && haveDirect {
		// Sixteen AVX2 lanes, then the tail below.
		if i = len(v) / 16 * 16; i > 0 {
			s0, q0 = sumSq32(&v32[0], i, shift)
		}
	}
	for ; i+2 <= len(v); i += 2 {
		d0, d1 := float64(v[i])-shift, float64(v[i+1])-shift
		s0 += d0
		s1 += d1
		q0 += d0 * d0
		q1 += d1 * d1
	}
	for ; i < len(v); i++ {
		d := float64(v[i]) - shift
		s0 += d
		q0 += d * d
	}
	n := float64(len(v))
	ds := (s0 + s1) / n
	return shift + ds, max(0, (q0+q1)/n-ds*ds)
}
