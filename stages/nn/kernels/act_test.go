package kernels

import (
	"math"
	"testing"
)

func TestLeakyReLU(t *testing.T) {
	x := randSlice(1, 1000)
	for i := range x {
		if x[i] > -1e-3 && x[i] < 1e-3 { // keep finite differences off the kink
			x[i] = 0.5
		}
	}
	r := randSlice(2, len(x))
	y := make([]float64, len(x))
	loss := func() float64 {
		LeakyReLUForward(x, y, LeakyReLUSlope)
		return dot(r, y)
	}
	loss()
	dx := make([]float64, len(x))
	LeakyReLUBackward(y, r, dx, LeakyReLUSlope)
	checkGrad(t, "dx", x, dx, loss)

	// In place, float32, against the definition.
	y32 := to32(x)
	LeakyReLUForward(y32, y32, float32(LeakyReLUSlope))
	want := make([]float64, len(x))
	for i, v := range x {
		want[i] = v
		if v < 0 {
			want[i] = LeakyReLUSlope * v
		}
	}
	checkClose(t, "y", y32, want, 1e-7)
}

func TestConcatChannelRange(t *testing.T) {
	const n, s = 2, 3
	a := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12} // (2, 2, 3)
	b := []float32{-1, -2, -3, -4, -5, -6}                // (2, 1, 3)
	want := []float32{1, 2, 3, 4, 5, 6, -1, -2, -3, 7, 8, 9, 10, 11, 12, -4, -5, -6}
	got := make([]float32, len(want))
	ConcatChannels(n, s, got, a, b)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("concat = %v, want %v", got, want)
		}
	}
	a2, b2 := make([]float32, len(a)), make([]float32, len(b))
	ChannelRange(n, s, 0, got, a2)
	ChannelRange(n, s, 2, got, b2)
	for i := range a {
		if a2[i] != a[i] {
			t.Fatalf("split a = %v, want %v", a2, a)
		}
	}
	for i := range b {
		if b2[i] != b[i] {
			t.Fatalf("split b = %v, want %v", b2, b)
		}
	}
}

func TestConcatLengthMismatchPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("ConcatChannels accepted a destination of the wrong length")
		}
	}()
	ConcatChannels(1, 2, make([]float32, 5), make([]float32, 2), make([]float32, 2))
}

func TestChannelRangeBadRangePanics(t *testing.T) {
	tests := []struct {
		name     string
		lo       int
		src, dst int // lengths, n = 1, spatial = 2
	}{
		{"past the end", 2, 6, 4},
		{"negative start", -1, 6, 2},
		{"ragged source", 0, 5, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("ChannelRange accepted a bad range")
				}
			}()
			ChannelRange(1, 2, tc.lo, make([]float32, tc.src), make([]float32, tc.dst))
		})
	}
}

// TestLeakyReLUSpecialValues pins the factor choice at zero, negative zero,
// infinities and subnormals for float32 (bit-mask path) and float64.
func TestLeakyReLUSpecialValues(t *testing.T) {
	in := []float64{0, math.Copysign(0, -1), 1, -1, math.Inf(1), math.Inf(-1), 1e-40, -1e-40, 3.5, -2}
	want := func(x float64) float64 {
		if x > 0 {
			return x
		}
		return LeakyReLUSlope * x
	}
	x32 := to32(in)
	y32 := make([]float32, len(in))
	LeakyReLUForward(x32, y32, float32(LeakyReLUSlope))
	y64 := make([]float64, len(in))
	LeakyReLUForward(in, y64, LeakyReLUSlope)
	for i, x := range in {
		if w := float32(want(float64(x32[i]))); y32[i] != w {
			t.Errorf("float32 leaky(%v) = %v, want %v", x32[i], y32[i], w)
		}
		if w := want(x); y64[i] != w {
			t.Errorf("float64 leaky(%v) = %v, want %v", x, y64[i], w)
		}
	}
	// Backward at y = +0 uses the slope, as x <= 0 there.
	dx := make([]float32, 1)
	LeakyReLUBackward([]float32{0}, []float32{1}, dx, float32(LeakyReLUSlope))
	if dx[0] != float32(LeakyReLUSlope) {
		t.Errorf("backward at 0 = %v, want %v", dx[0], float32(LeakyReLUSlope))
	}
}

// TestConcatGradients checks that ChannelRange is the backward pass of
// ConcatChannels (and so the reverse) by finite differences.
func TestConcatGradients(t *testing.T) {
	const n, s = 2, 5
	a, b := randSlice(1, n*3*s), randSlice(2, n*2*s)
	r := randSlice(3, n*5*s)
	y := make([]float64, len(r))
	loss := func() float64 {
		ConcatChannels(n, s, y, a, b)
		return dot(r, y)
	}
	da, db := make([]float64, len(a)), make([]float64, len(b))
	ChannelRange(n, s, 0, r, da)
	ChannelRange(n, s, 3, r, db)
	checkGrad(t, "da", a, da, loss)
	checkGrad(t, "db", b, db, loss)
}
