package kernels

import "testing"

// naiveConvTranspose is the reference transposed convolution: every input
// element spreads w[ci, co, k]·x over output position i·stride − pad + k.
func naiveConvTranspose(g ConvTransposeGeom, x, w, b []float64) []float64 {
	out := g.Out()
	y := make([]float64, g.OutLen())
	for n := range g.N {
		for ci := range g.InC {
			for co := range g.OutC {
				for id := range g.In[0] {
					for ih := range g.In[1] {
						for iw := range g.In[2] {
							v := x[(n*g.InC+ci)*prod(g.In)+(id*g.In[1]+ih)*g.In[2]+iw]
							for kd := range g.Kernel[0] {
								for kh := range g.Kernel[1] {
									for kw := range g.Kernel[2] {
										od := id*g.Stride[0] - g.Pad[0] + kd
										oh := ih*g.Stride[1] - g.Pad[1] + kh
										ow := iw*g.Stride[2] - g.Pad[2] + kw
										if od < 0 || oh < 0 || ow < 0 || od >= out[0] || oh >= out[1] || ow >= out[2] {
											continue
										}
										k := (kd*g.Kernel[1]+kh)*g.Kernel[2] + kw
										y[(n*g.OutC+co)*prod(out)+(od*out[1]+oh)*out[2]+ow] += w[(ci*g.OutC+co)*prod(g.Kernel)+k] * v
									}
								}
							}
						}
					}
				}
			}
		}
	}
	if b != nil {
		for i := range y {
			y[i] += b[i/prod(out)%g.OutC]
		}
	}
	return y
}

var convTransposeCases = []struct {
	name string
	g    ConvTransposeGeom
}{
	{"3d k2 s2", ConvTransposeGeom{N: 2, InC: 3, OutC: 2, In: [3]int{2, 3, 3}, Kernel: [3]int{2, 2, 2}, Stride: [3]int{2, 2, 2}}},
	{"3d k122 s122", ConvTransposeGeom{N: 1, InC: 2, OutC: 3, In: [3]int{3, 2, 3}, Kernel: [3]int{1, 2, 2}, Stride: [3]int{1, 2, 2}}},
	{"3d k3 s2 p1", ConvTransposeGeom{N: 2, InC: 2, OutC: 2, In: [3]int{2, 3, 2}, Kernel: [3]int{3, 3, 3}, Stride: [3]int{2, 2, 2}, Pad: [3]int{1, 1, 1}}},
	{"2d k2 s2", ConvTransposeGeom{N: 2, InC: 4, OutC: 2, In: [3]int{1, 3, 5}, Kernel: [3]int{1, 2, 2}, Stride: [3]int{1, 2, 2}}},
}

func TestConvTransposeGradients(t *testing.T) {
	for _, tc := range convTransposeCases {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.g
			x, w, b := randSlice(1, g.InLen()), randSlice(2, g.WeightLen()), randSlice(3, g.OutC)
			r := randSlice(4, g.OutLen())
			var ws Workspace
			y := make([]float64, g.OutLen())
			loss := func() float64 {
				ConvTransposeForward(&ws, g, x, w, b, y)
				return dot(r, y)
			}
			dx, dw, db := make([]float64, g.InLen()), make([]float64, g.WeightLen()), make([]float64, g.OutC)
			ConvTransposeBackwardData(&ws, g, r, w, dx)
			ConvTransposeBackwardFilter(&ws, g, x, r, dw, db)
			checkGrad(t, "dx", x, dx, loss)
			checkGrad(t, "dw", w, dw, loss)
			checkGrad(t, "db", b, db, loss)
		})
	}
}

func TestConvTransposeMatchesNaive(t *testing.T) {
	for _, tc := range convTransposeCases {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.g
			x, w, b := randSlice(1, g.InLen()), randSlice(2, g.WeightLen()), randSlice(3, g.OutC)
			want := naiveConvTranspose(g, x, w, b)
			y := make([]float32, g.OutLen())
			for i := range y {
				y[i] = 99 // must be overwritten
			}
			ConvTransposeForward(nil, g, to32(x), to32(w), to32(b), y)
			checkClose(t, "y", y, want, 1e-5)
		})
	}
}

func TestConvTransposeValidate(t *testing.T) {
	good := ConvTransposeGeom{N: 1, InC: 2, OutC: 2, In: [3]int{1, 3, 3}, Kernel: [3]int{1, 2, 2}, Stride: [3]int{1, 2, 2}}
	if err := good.Validate(); err != nil {
		t.Fatalf("Validate(%+v) = %v", good, err)
	}
	if got := good.Out(); got != [3]int{1, 6, 6} {
		t.Errorf("Out() = %v, want [1 6 6]", got)
	}
	bad := good
	bad.Stride = [3]int{1, 0, 2}
	if bad.Validate() == nil {
		t.Errorf("Validate accepted stride 0")
	}
}
