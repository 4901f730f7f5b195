package kernels

import "testing"

// naiveConv is the reference convolution, straight from the definition.
func naiveConv(g ConvGeom, x, w, b []float64) []float64 {
	out := g.Out()
	y := make([]float64, g.OutLen())
	forEachTap(g, func(n, co, ci, o, k, i int) {
		y[(n*g.OutC+co)*prod(out)+o] += w[(co*g.InC+ci)*prod(g.Kernel)+k] * x[(n*g.InC+ci)*prod(g.In)+i]
	})
	if b != nil {
		for i := range y {
			y[i] += b[i/prod(out)%g.OutC]
		}
	}
	return y
}

// naiveConvBackward returns dx, dw and db of the reference convolution.
func naiveConvBackward(g ConvGeom, x, w, dy []float64) (dx, dw, db []float64) {
	out := g.Out()
	dx = make([]float64, g.InLen())
	dw = make([]float64, g.WeightLen())
	db = make([]float64, g.OutC)
	forEachTap(g, func(n, co, ci, o, k, i int) {
		d := dy[(n*g.OutC+co)*prod(out)+o]
		dx[(n*g.InC+ci)*prod(g.In)+i] += w[(co*g.InC+ci)*prod(g.Kernel)+k] * d
		dw[(co*g.InC+ci)*prod(g.Kernel)+k] += x[(n*g.InC+ci)*prod(g.In)+i] * d
	})
	for i, d := range dy {
		db[i/prod(out)%g.OutC] += d
	}
	return dx, dw, db
}

// forEachTap calls f for every (sample, out channel, in channel, output
// position, kernel tap, input position) that meets inside the input.
func forEachTap(g ConvGeom, f func(n, co, ci, o, k, i int)) {
	out := g.Out()
	for n := range g.N {
		for co := range g.OutC {
			for ci := range g.InC {
				for od := range out[0] {
					for oh := range out[1] {
						for ow := range out[2] {
							for kd := range g.Kernel[0] {
								for kh := range g.Kernel[1] {
									for kw := range g.Kernel[2] {
										id := od*g.Stride[0] - g.Pad[0] + kd
										ih := oh*g.Stride[1] - g.Pad[1] + kh
										iw := ow*g.Stride[2] - g.Pad[2] + kw
										if id < 0 || ih < 0 || iw < 0 || id >= g.In[0] || ih >= g.In[1] || iw >= g.In[2] {
											continue
										}
										o := (od*out[1]+oh)*out[2] + ow
										k := (kd*g.Kernel[1]+kh)*g.Kernel[2] + kw
										i := (id*g.In[1]+ih)*g.In[2] + iw
										f(n, co, ci, o, k, i)
									}
								}
							}
						}
					}
				}
			}
		}
	}
}

var convCases = []struct {
	name string
	g    ConvGeom
}{
	{"3d k3 s1 p1", ConvGeom{N: 2, InC: 3, OutC: 2, In: [3]int{3, 4, 5}, Kernel: [3]int{3, 3, 3}, Stride: [3]int{1, 1, 1}, Pad: [3]int{1, 1, 1}}},
	{"3d k3 s2 p1 odd", ConvGeom{N: 2, InC: 2, OutC: 3, In: [3]int{5, 6, 7}, Kernel: [3]int{3, 3, 3}, Stride: [3]int{2, 2, 2}, Pad: [3]int{1, 1, 1}}},
	{"3d k133 s122", ConvGeom{N: 1, InC: 3, OutC: 4, In: [3]int{3, 5, 4}, Kernel: [3]int{1, 3, 3}, Stride: [3]int{1, 2, 2}, Pad: [3]int{0, 1, 1}}},
	{"3d k3 s2 p0", ConvGeom{N: 1, InC: 2, OutC: 2, In: [3]int{4, 5, 6}, Kernel: [3]int{3, 3, 3}, Stride: [3]int{2, 2, 2}}},
	{"3d k3 s(2,1,2) p1", ConvGeom{N: 2, InC: 2, OutC: 2, In: [3]int{3, 3, 5}, Kernel: [3]int{3, 3, 3}, Stride: [3]int{2, 1, 2}, Pad: [3]int{1, 1, 1}}},
	{"3d k3 s1 p2 (scatter path)", ConvGeom{N: 1, InC: 2, OutC: 3, In: [3]int{2, 3, 4}, Kernel: [3]int{3, 3, 3}, Stride: [3]int{1, 1, 1}, Pad: [3]int{2, 1, 2}}},
	{"3d k3 s(2,1,1) p1", ConvGeom{N: 2, InC: 2, OutC: 3, In: [3]int{5, 4, 3}, Kernel: [3]int{3, 3, 3}, Stride: [3]int{2, 1, 1}, Pad: [3]int{1, 1, 1}}},
	{"3d k155 narrow", ConvGeom{N: 1, InC: 2, OutC: 2, In: [3]int{2, 3, 1}, Kernel: [3]int{1, 5, 5}, Stride: [3]int{1, 1, 1}, Pad: [3]int{0, 2, 2}}},
	{"3d k3 s1 p1 4→8", ConvGeom{N: 2, InC: 4, OutC: 8, In: [3]int{4, 5, 6}, Kernel: [3]int{3, 3, 3}, Stride: [3]int{1, 1, 1}, Pad: [3]int{1, 1, 1}}},
	{"3d k133 s1 4→4", ConvGeom{N: 2, InC: 4, OutC: 4, In: [3]int{3, 5, 4}, Kernel: [3]int{1, 3, 3}, Stride: [3]int{1, 1, 1}, Pad: [3]int{0, 1, 1}}},
	{"3d k3 s1 p2 3→4", ConvGeom{N: 1, InC: 3, OutC: 4, In: [3]int{2, 3, 4}, Kernel: [3]int{3, 3, 3}, Stride: [3]int{1, 1, 1}, Pad: [3]int{2, 1, 2}}},
	{"3d k3 s2 p1 odd 2→4", ConvGeom{N: 2, InC: 2, OutC: 4, In: [3]int{5, 6, 7}, Kernel: [3]int{3, 3, 3}, Stride: [3]int{2, 2, 2}, Pad: [3]int{1, 1, 1}}},
	{"3d k3 s(2,1,2) p1 3→4", ConvGeom{N: 2, InC: 3, OutC: 4, In: [3]int{4, 3, 5}, Kernel: [3]int{3, 3, 3}, Stride: [3]int{2, 1, 2}, Pad: [3]int{1, 1, 1}}},
	{"3d k3 s2 p0 2→8", ConvGeom{N: 1, InC: 2, OutC: 8, In: [3]int{4, 5, 6}, Kernel: [3]int{3, 3, 3}, Stride: [3]int{2, 2, 2}}},
	{"3d k1 s2 2→4", ConvGeom{N: 2, InC: 2, OutC: 4, In: [3]int{3, 3, 5}, Kernel: [3]int{1, 1, 1}, Stride: [3]int{2, 2, 2}}},
	{"2d k3 s2 p1 2→4", ConvGeom{N: 2, InC: 2, OutC: 4, In: [3]int{1, 7, 6}, Kernel: [3]int{1, 3, 3}, Stride: [3]int{1, 2, 2}, Pad: [3]int{0, 1, 1}}},
	{"3d k3 s2 p1 odd 4→4", ConvGeom{N: 2, InC: 4, OutC: 4, In: [3]int{5, 6, 7}, Kernel: [3]int{3, 3, 3}, Stride: [3]int{2, 2, 2}, Pad: [3]int{1, 1, 1}}},
	{"3d k3 s(1,2,2) p1 8→4", ConvGeom{N: 2, InC: 8, OutC: 4, In: [3]int{3, 5, 4}, Kernel: [3]int{3, 3, 3}, Stride: [3]int{1, 2, 2}, Pad: [3]int{1, 1, 1}}},
	{"3d k3 s1 p2 4→4 (not flippable)", ConvGeom{N: 1, InC: 4, OutC: 4, In: [3]int{2, 3, 4}, Kernel: [3]int{3, 3, 3}, Stride: [3]int{1, 1, 1}, Pad: [3]int{2, 1, 2}}},
	{"3d k1 s2 4→4", ConvGeom{N: 1, InC: 4, OutC: 4, In: [3]int{3, 4, 5}, Kernel: [3]int{1, 1, 1}, Stride: [3]int{2, 2, 2}}},
	{"3d k1 pointwise", ConvGeom{N: 2, InC: 5, OutC: 3, In: [3]int{2, 3, 4}, Kernel: [3]int{1, 1, 1}, Stride: [3]int{1, 1, 1}}},
	{"3d k1 s2", ConvGeom{N: 1, InC: 2, OutC: 3, In: [3]int{3, 3, 5}, Kernel: [3]int{1, 1, 1}, Stride: [3]int{2, 2, 2}}},
	{"2d k3 s1 p1", ConvGeom{N: 2, InC: 3, OutC: 4, In: [3]int{1, 6, 5}, Kernel: [3]int{1, 3, 3}, Stride: [3]int{1, 1, 1}, Pad: [3]int{0, 1, 1}}},
	{"2d k3 s2 p1", ConvGeom{N: 2, InC: 2, OutC: 3, In: [3]int{1, 7, 6}, Kernel: [3]int{1, 3, 3}, Stride: [3]int{1, 2, 2}, Pad: [3]int{0, 1, 1}}},
}

func TestConvGradients(t *testing.T) {
	for _, tc := range convCases {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.g
			x := randSlice(1, g.InLen())
			w := randSlice(2, g.WeightLen())
			b := randSlice(3, g.OutC)
			r := randSlice(4, g.OutLen())
			var ws Workspace
			y := make([]float64, g.OutLen())
			loss := func() float64 {
				ConvForward(&ws, g, x, w, b, y)
				return dot(r, y)
			}
			dx := make([]float64, g.InLen())
			dw := make([]float64, g.WeightLen())
			db := make([]float64, g.OutC)
			ConvBackwardData(&ws, g, r, w, dx)
			ConvBackwardFilter(&ws, g, x, r, dw, db)
			checkGrad(t, "dx", x, dx, loss)
			checkGrad(t, "dw", w, dw, loss)
			checkGrad(t, "db", b, db, loss)
		})
	}
}

func TestConvMatchesNaive(t *testing.T) {
	for _, tc := range convCases {
		// Default, many small column chunks, and the direct path wherever it
		// applies.
		for _, ws := range []Workspace{{}, {colBudget: 50}, {maxWaste: 1e9}} {
			t.Run(tc.name, func(t *testing.T) {
				g := tc.g
				x, w, b := randSlice(1, g.InLen()), randSlice(2, g.WeightLen()), randSlice(3, g.OutC)
				dy := randSlice(4, g.OutLen())
				wantY := naiveConv(g, x, w, b)
				wantDx, wantDw, wantDb := naiveConvBackward(g, x, w, dy)

				y := make([]float32, g.OutLen())
				dx := make([]float32, g.InLen())
				dw := make([]float32, g.WeightLen())
				db := make([]float32, g.OutC)
				for _, out := range [][]float32{y, dx, dw, db} {
					for i := range out {
						out[i] = 99 // outputs must be overwritten, not accumulated
					}
				}
				ConvForward(&ws, g, to32(x), to32(w), to32(b), y)
				ConvBackwardData(&ws, g, to32(dy), to32(w), dx)
				ConvBackwardFilter(&ws, g, to32(x), to32(dy), dw, db)
				checkClose(t, "y", y, wantY, 1e-5)
				checkClose(t, "dx", dx, wantDx, 1e-5)
				checkClose(t, "dw", dw, wantDw, 1e-5)
				checkClose(t, "db", db, wantDb, 1e-5)
			})
		}
	}
}

// TestConvDeterministic runs geometries large enough for the parallel paths
// (vol2col, col2vol, split GEMMs and the direct path) with 1 and 4
// goroutines and wants the same bits.
func TestConvDeterministic(t *testing.T) {
	geoms := []ConvGeom{
		{N: 2, InC: 8, OutC: 16, In: [3]int{6, 8, 9}, Kernel: [3]int{3, 3, 3}, Stride: [3]int{1, 1, 1}, Pad: [3]int{1, 1, 1}},
		{N: 1, InC: 8, OutC: 16, In: [3]int{9, 12, 13}, Kernel: [3]int{3, 3, 3}, Stride: [3]int{2, 2, 2}, Pad: [3]int{1, 1, 1}},
	}
	for _, g := range geoms {
		x, w, dy := to32(randSlice(1, g.InLen())), to32(randSlice(2, g.WeightLen())), to32(randSlice(3, g.OutLen()))
		run := func(procs int, maxWaste float64) (y, dx, dw, db []float32) {
			y, dx, dw, db = make([]float32, g.OutLen()), make([]float32, g.InLen()), make([]float32, g.WeightLen()), make([]float32, g.OutC)
			withProcs(procs, func() {
				ws := Workspace{maxWaste: maxWaste}
				ConvForward(&ws, g, x, w, nil, y)
				ConvBackwardData(&ws, g, dy, w, dx)
				ConvBackwardFilter(&ws, g, x, dy, dw, db)
			})
			return
		}
		for _, maxWaste := range []float64{0, 1e9} {
			y1, dx1, dw1, db1 := run(1, maxWaste)
			y4, dx4, dw4, db4 := run(4, maxWaste)
			checkSame(t, "y", y1, y4)
			checkSame(t, "dx", dx1, dx4)
			checkSame(t, "dw", dw1, dw4)
			checkSame(t, "db", db1, db4)
		}
	}
}

func TestConvValidate(t *testing.T) {
	tests := []struct {
		name string
		g    ConvGeom
		ok   bool
	}{
		{"valid", ConvGeom{N: 1, InC: 1, OutC: 1, In: [3]int{1, 4, 4}, Kernel: [3]int{1, 3, 3}, Stride: [3]int{1, 1, 1}, Pad: [3]int{0, 1, 1}}, true},
		{"no batch", ConvGeom{InC: 1, OutC: 1, In: [3]int{1, 4, 4}, Kernel: [3]int{1, 3, 3}, Stride: [3]int{1, 1, 1}}, false},
		{"zero stride", ConvGeom{N: 1, InC: 1, OutC: 1, In: [3]int{1, 4, 4}, Kernel: [3]int{1, 3, 3}}, false},
		{"kernel too big", ConvGeom{N: 1, InC: 1, OutC: 1, In: [3]int{1, 2, 4}, Kernel: [3]int{1, 3, 3}, Stride: [3]int{1, 1, 1}}, false},
	}
	for _, tc := range tests {
		if err := tc.g.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}
