package kernels

// LeakyReLUSlope is nnU-Net's LeakyReLU negative slope.
const LeakyReLUSlope = 0.01

// LeakyReLUForward computes y = x for x > 0, slope·x otherwise. y may alias x.
func LeakyReLUForward[T Float](x, y []T, slope T) {
	mustLen("leaky relu output", y, len(x))
	parallelFor(len(x), 1<<15, func(lo, hi int) {
		ys := y[lo:hi]
		for i, v := range x[lo:hi] {
			if v <= 0 {
				v *= slope
			}
			ys[i] = v
		}
	})
}

// LeakyReLUBackward computes dx = dy where the forward output y is positive,
// slope·dy elsewhere. With a positive slope y > 0 exactly when x > 0, so the
// forward pass may run in place. dx may alias dy.
func LeakyReLUBackward[T Float](y, dy, dx []T, slope T) {
	mustLen("leaky relu output gradient", dy, len(y))
	mustLen("leaky relu input gradient", dx, len(y))
	parallelFor(len(y), 1<<15, func(lo, hi int) {
		ds, dxs := dy[lo:hi], dx[lo:hi]
		for i, v := range y[lo:hi] {
			d := ds[i]
			if v <= 0 {
				d *= slope
			}
			dxs[i] = d
		}
	})
}
