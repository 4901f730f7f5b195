package kernels

import "math"

// LeakyReLUSlope is nnU-Net's LeakyReLU negative slope.
const LeakyReLUSlope = 0.01

// LeakyReLUForward computes y = x for x > 0, slope·x otherwise. y may alias x.
func LeakyReLUForward[T Float](x, y []T, slope T) {
	mustLen("leaky relu output", y, len(x))
	parallelFor(len(x), 1<<15, func(lo, hi int) {
		scaleBySign(x[lo:hi], x[lo:hi], y[lo:hi], slope)
	})
}

// LeakyReLUBackward computes dx = dy where the forward output y is positive,
// slope·dy elsewhere. With a positive slope y > 0 exactly when x > 0, so the
// forward pass may run in place (and the forward input may be passed as y).
// dx may alias dy.
func LeakyReLUBackward[T Float](y, dy, dx []T, slope T) {
	mustLen("leaky relu output gradient", dy, len(y))
	mustLen("leaky relu input gradient", dx, len(y))
	parallelFor(len(y), 1<<15, func(lo, hi int) {
		scaleBySign(y[lo:hi], dy[lo:hi], dx[lo:hi], slope)
	})
}

// scaleBySign writes out[i] = v[i] when sign[i] > 0, slope·v[i] otherwise.
// It selects the factor with bit masks instead of a branch: the signs of
// normalised activations are random, and mispredicted branches made this
// loop several times slower.
func scaleBySign[T Float](sign, v, out []T, slope T) {
	switch s := any(sign).(type) {
	case []float32:
		scaleBySign32(s, any(v).([]float32), any(out).([]float32), float32(slope))
	case []float64:
		scaleBySign64(s, any(v).([]float64), any(out).([]float64), float64(slope))
	}
}

func scaleBySign32(sign, v, out []float32, slope float32) {
	v, out = v[:len(sign)], out[:len(sign)]
	one, sl := math.Float32bits(1), math.Float32bits(slope)
	for i, s := range sign {
		// m is all ones when s <= 0: its sign bit is set, or s is +0
		// ((b | −b) >> 31 is 1 exactly when b != 0).
		b := math.Float32bits(s)
		m := uint32(int32(b)>>31) | ((b|-b)>>31 - 1)
		out[i] = v[i] * math.Float32frombits(one&^m|sl&m)
	}
}

func scaleBySign64(sign, v, out []float64, slope float64) {
	v, out = v[:len(sign)], out[:len(sign)]
	for i, s := range sign {
		f := 1.0
		if s <= 0 {
			f = slope
		}
		out[i] = v[i] * f
	}
}
