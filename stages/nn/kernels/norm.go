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
			// (x − mean)·scale + beta, with the same rounded mean the
			// backward pass sees.
			scale, mt, b := T(float64(gamma[ch])*r), T(m), beta[ch]
			ys := y[i*spatial : (i+1)*spatial]
			for j, v := range xs {
				ys[j] = (v-mt)*scale + b
			}
		}
	})
}

// InstanceNormBackward computes dx, dgamma and dbeta from the forward input
// x, gamma, the saved mean and rstd, and the output gradient dy. dx may alias
// dy. dgamma and dbeta are summed over the batch.
func InstanceNormBackward[T Float](x, gamma, mean, rstd, dy []T, n, c, spatial int, dx, dgamma, dbeta []T) {
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
		for i := lo; i < hi; i++ {
			xs := x[i*spatial : (i+1)*spatial]
			ds := dy[i*spatial : (i+1)*spatial]
			m, r := float64(mean[i]), float64(rstd[i])
			var a, b float64
			for j, d := range ds {
				a += float64(d)
				b += float64(d) * (float64(xs[j]) - m)
			}
			b *= r
			sdy[i], sdyx[i] = a, b
			inv := 1 / float64(spatial)
			g := float64(gamma[i%c]) * r
			// dx = g·(dy − a/S − x̂·b/S), x̂ = (x − m)·r.
			k1, k2, k0, mt := T(g), T(g*b*inv*r), T(-g*a*inv), T(m)
			dxs := dx[i*spatial : (i+1)*spatial]
			for j, d := range ds {
				dxs[j] = k1*d - k2*(xs[j]-mt) + k0
			}
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

// moments returns the mean and population variance of v in one pass:
// float64 sums of v − v[0] and its square (the shift keeps the difference of
// squares well conditioned).
func moments[T Float](v []T) (mean, variance float64) {
	shift := float64(v[0])
	var s0, s1, q0, q1 float64
	i := 0
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
