package augment

import (
	"math"
	"math/rand/v2"
)

// spatial is transform 1 (SpatialTransform without elastic deformation):
// with p 0.2 a rotation, with p 0.2 a scaling, sampled around the centre of
// the input patch; otherwise an integer centre crop.
func (a *Augmenter) spatial(rng *rand.Rand, in []float32, inSeg []int16, inP [3]int, out []float32, outSeg []int16) {
	p := a.cfg.Patch
	doRot := rng.Float64() < 0.2
	doScale := rng.Float64() < 0.2
	if !doRot && !doScale {
		centerCrop(in, inSeg, inP, out, outSeg, p)
		return
	}
	var ang [3]float64
	if doRot {
		if a.cfg.Dummy2D {
			ang[0] = uniform(rng, -a.cfg.Rotation, a.cfg.Rotation)
		} else {
			for i := range ang {
				ang[i] = uniform(rng, -a.cfg.Rotation, a.cfg.Rotation)
			}
		}
	}
	s := 1.0
	if doScale {
		s = uniform(rng, 0.7, 1.4)
	}
	var m [3][3]float64
	if a.cfg.Dummy2D {
		// 2-D affine R(a)·diag(s) within axes 1 and 2; axis 0 untouched.
		c, sn := math.Cos(ang[0]), math.Sin(ang[0])
		m = [3][3]float64{{1, 0, 0}, {0, c * s, -sn * s}, {0, sn * s, c * s}}
	} else {
		m = affine3(ang, s)
	}
	a.resample(m, in, inSeg, inP, out, outSeg)
}

// affine3 is Rz(a2)·Ry(a1)·Rx(a0)·diag(s).
func affine3(ang [3]float64, s float64) [3][3]float64 {
	c0, s0 := math.Cos(ang[0]), math.Sin(ang[0])
	c1, s1 := math.Cos(ang[1]), math.Sin(ang[1])
	c2, s2 := math.Cos(ang[2]), math.Sin(ang[2])
	rx := [3][3]float64{{1, 0, 0}, {0, c0, -s0}, {0, s0, c0}}
	ry := [3][3]float64{{c1, 0, s1}, {0, 1, 0}, {-s1, 0, c1}}
	rz := [3][3]float64{{c2, -s2, 0}, {s2, c2, 0}, {0, 0, 1}}
	r := mul3(rz, mul3(ry, rx))
	for i := range 3 {
		for j := range 3 {
			r[i][j] *= s
		}
	}
	return r
}

func mul3(a, b [3][3]float64) [3][3]float64 {
	var r [3][3]float64
	for i := range 3 {
		for j := range 3 {
			for k := range 3 {
				r[i][j] += a[i][k] * b[k][j]
			}
		}
	}
	return r
}

// centerCrop copies the centred box of shape p (start floor(S/2) − p//2).
func centerCrop(in []float32, inSeg []int16, inP [3]int, out []float32, outSeg []int16, p [3]int) {
	var st [3]int
	for i := range 3 {
		st[i] = inP[i]/2 - p[i]/2
	}
	inN, n := inP[0]*inP[1]*inP[2], p[0]*p[1]*p[2]
	nc := len(in) / inN
	for x := range p[0] {
		for y := range p[1] {
			src := ((x+st[0])*inP[1]+y+st[1])*inP[2] + st[2]
			dst := (x*p[1] + y) * p[2]
			copy(outSeg[dst:dst+p[2]], inSeg[src:src+p[2]])
			for c := range nc {
				copy(out[c*n+dst:c*n+dst+p[2]], in[c*inN+src:c*inN+src+p[2]])
			}
		}
	}
}

// resample samples the input at m·g + centre for every output voxel g
// (centred grid): the image trilinearly with zero padding (grid_sample,
// align_corners=False), the labels by the largest trilinear weight per
// label (ties to the lowest label), −1 where the point lies outside the
// input.
func (a *Augmenter) resample(m [3][3]float64, in []float32, inSeg []int16, inP [3]int, out []float32, outSeg []int16) {
	p := a.cfg.Patch
	inN, n := inP[0]*inP[1]*inP[2], p[0]*p[1]*p[2]
	nc := len(in) / inN
	lo, hi := inSeg[0], inSeg[0]
	for _, v := range inSeg {
		lo, hi = min(lo, v), max(hi, v)
	}
	if nl := int(hi-lo) + 1; cap(a.acc) < nl {
		a.acc = make([]float32, nl)
	}
	acc := a.acc[:int(hi-lo)+1]
	var ctr, half [3]float64
	for i := range 3 {
		ctr[i] = float64(inP[i]-1) / 2
		half[i] = float64(p[i]-1) / 2
	}
	sy, sz := inP[1]*inP[2], inP[2]
	o := 0
	for x := range p[0] {
		gx := float64(x) - half[0]
		for y := range p[1] {
			gy := float64(y) - half[1]
			for z := range p[2] {
				gz := float64(z) - half[2]
				var pos [3]float64
				for i := range 3 {
					pos[i] = m[i][0]*gx + m[i][1]*gy + m[i][2]*gz + ctr[i]
				}
				var i0 [3]int
				var f [3]float64
				inside := true
				for i := range 3 {
					fl := math.Floor(pos[i])
					i0[i], f[i] = int(fl), pos[i]-fl
					if pos[i] < 0 || pos[i] > float64(inP[i]-1) {
						inside = false
					}
				}
				for c := range nc {
					out[c*n+o] = 0
				}
				clear(acc)
				for corner := range 8 {
					var idx [3]int
					w := 1.0
					ok := true
					for i := range 3 {
						bit := corner >> (2 - i) & 1
						idx[i] = i0[i] + bit
						if bit == 1 {
							w *= f[i]
						} else {
							w *= 1 - f[i]
						}
						if idx[i] < 0 || idx[i] >= inP[i] {
							ok = false
						}
					}
					if !ok || w == 0 {
						continue
					}
					k := idx[0]*sy + idx[1]*sz + idx[2]
					wf := float32(w)
					for c := range nc {
						out[c*n+o] += wf * in[c*inN+k]
					}
					acc[inSeg[k]-lo] += wf
				}
				if !inside {
					outSeg[o] = -1
				} else {
					best := 0
					for l := 1; l < len(acc); l++ {
						if acc[l] > acc[best] {
							best = l
						}
					}
					outSeg[o] = int16(best) + lo
				}
				o++
			}
		}
	}
}

// mirror flips each allowed axis with probability 0.5.
func (a *Augmenter) mirror(rng *rand.Rand, data []float32, seg []int16) {
	p := a.cfg.Patch
	n := len(seg)
	nc := len(data) / n
	for _, ax := range a.cfg.MirrorAxes {
		if rng.Float64() >= 0.5 {
			continue
		}
		for c := range nc {
			Flip(data[c*n:(c+1)*n], p, ax)
		}
		Flip(seg, p, ax)
	}
}

// Flip reverses a (X, Y, Z) volume along axis in place.
func Flip[T any](v []T, shape [3]int, axis int) {
	X, Y, Z := shape[0], shape[1], shape[2]
	switch axis {
	case 0:
		for x := range X / 2 {
			a, b := v[x*Y*Z:(x+1)*Y*Z], v[(X-1-x)*Y*Z:(X-x)*Y*Z]
			for i := range a {
				a[i], b[i] = b[i], a[i]
			}
		}
	case 1:
		for x := range X {
			for y := range Y / 2 {
				a := v[(x*Y+y)*Z : (x*Y+y+1)*Z]
				b := v[(x*Y+Y-1-y)*Z : (x*Y+Y-y)*Z]
				for i := range a {
					a[i], b[i] = b[i], a[i]
				}
			}
		}
	case 2:
		for r := range X * Y {
			row := v[r*Z : (r+1)*Z]
			for i, j := 0, Z-1; i < j; i, j = i+1, j-1 {
				row[i], row[j] = row[j], row[i]
			}
		}
	}
}
