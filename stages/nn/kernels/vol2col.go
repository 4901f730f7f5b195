package kernels

// vol2col writes the column matrix of output rows [r0, r1) of one sample x
// (InC, D, H, W) into col, shaped (InC·kd·kh·kw, (r1−r0)·outW): row
// (ci, kz, ky, kx), column (output row r, ox) holds the input element that
// kernel tap meets at that output position, or 0 in the padding.
func vol2col[T Float](g *ConvGeom, x []T, r0, r1 int, col []T) {
	out := g.Out()
	oh, ow := out[1], out[2]
	id, ih, iw := g.In[0], g.In[1], g.In[2]
	kd, kh, kw := g.Kernel[0], g.Kernel[1], g.Kernel[2]
	sd, sh, sw := g.Stride[0], g.Stride[1], g.Stride[2]
	pd, ph, pw := g.Pad[0], g.Pad[1], g.Pad[2]
	k := kd * kh * kw
	nc := (r1 - r0) * ow
	// With stride 1 in H and W and "same" width, consecutive output rows of
	// a tap read consecutive input rows: whole spans copy at once.
	spans := sh == 1 && sw == 1 && iw == ow
	parallelFor(g.InC*k, max(1, 1<<13/nc), func(lo, hi int) {
		for row := lo; row < hi; row++ {
			ci, t := row/k, row%k
			kz, ky, kx := t/(kh*kw), t/kw%kh, t%kw
			xc := x[ci*id*ih*iw : (ci+1)*id*ih*iw]
			dst := col[row*nc : (row+1)*nc]
			if spans {
				vol2colSpans(g, oh, ow, xc, r0, r1, kz, ky, kx, dst)
				continue
			}
			// Output columns whose input column ix = ox·sw − pw + kx is inside.
			oxLo := max(0, ceilDiv(pw-kx, sw))
			oxHi := min(ow, ceilDiv(iw+pw-kx, sw))
			od, oy := r0/oh, r0%oh
			for r := r0; r < r1; r++ {
				d := dst[(r-r0)*ow : (r-r0+1)*ow]
				iz, iy := od*sd-pd+kz, oy*sh-ph+ky
				if oy++; oy == oh {
					oy, od = 0, od+1
				}
				if iz < 0 || iz >= id || iy < 0 || iy >= ih || oxLo >= oxHi {
					clear(d)
					continue
				}
				src := xc[(iz*ih+iy)*iw : (iz*ih+iy+1)*iw]
				if oxLo > 0 {
					clear(d[:oxLo])
				}
				dd, s := d[oxLo:oxHi], src[oxLo*sw-pw+kx:]
				switch sw {
				case 1:
					copy(dd, s)
				case 2:
					for j := range dd {
						dd[j] = s[2*j]
					}
				default:
					for j := range dd {
						dd[j] = s[sw*j]
					}
				}
				if oxHi < ow {
					clear(d[oxHi:])
				}
			}
		}
	})
}

// vol2colSpans writes one column-matrix row (tap kz, ky, kx of one channel
// xc; output height oh and width ow) for output rows [r0, r1) when stride is 1 in H and W and the output is
// as wide as the input: within a depth slice, the valid output rows form one
// span that equals a contiguous span of xc shifted by kx − pw, except for the
// |kx − pw| border columns of each row, which are padding.
func vol2colSpans[T Float](g *ConvGeom, oh, ow int, xc []T, r0, r1, kz, ky, kx int, dst []T) {
	id, ih, iw := g.In[0], g.In[1], g.In[2]
	ph, pw := g.Pad[1], g.Pad[2]
	delta := kx - pw
	for r := r0; r < r1; {
		od := r / oh
		rEnd := min(r1, (od+1)*oh)
		seg := dst[(r-r0)*ow : (rEnd-r0)*ow]
		oyA, oyB := r-od*oh, rEnd-od*oh
		iz := od*g.Stride[0] - g.Pad[0] + kz
		vA, vB := max(oyA, ph-ky), min(oyB, ih+ph-ky)
		r = rEnd
		if iz < 0 || iz >= id || vA >= vB {
			clear(seg)
			continue
		}
		clear(seg[:(vA-oyA)*ow])
		clear(seg[(vB-oyA)*ow:])
		valid := seg[(vA-oyA)*ow : (vB-oyA)*ow]
		start := (iz*ih+vA-ph+ky)*iw + delta
		jlo, jhi := max(0, -start), min(len(valid), len(xc)-start)
		if jlo < jhi {
			copy(valid[jlo:jhi], xc[start+jlo:start+jhi])
		}
		// Zero the columns whose input column ox + delta is outside the row
		// (they hold the neighbouring row's elements or were not copied).
		switch {
		case delta == -1: // the common 3-wide kernel: single elements
			for row := 0; row < len(valid); row += ow {
				valid[row] = 0
			}
		case delta == 1:
			for row := ow - 1; row < len(valid); row += ow {
				valid[row] = 0
			}
		case delta < 0:
			for row := 0; row < len(valid); row += ow {
				clear(valid[row : row+min(-delta, ow)])
			}
		case delta > 0:
			for row := 0; row < len(valid); row += ow {
				clear(valid[row+ow-min(delta, ow) : row+ow])
			}
		}
	}
}

// col2vol adds the column matrix col (as written by vol2col for output rows
// [r0, r1)) back into the sample dx (InC, D, H, W): the adjoint of vol2col.
// Channels are spread over goroutines, so each element of dx is summed by one
// goroutine in a fixed order.
func col2vol[T Float](g *ConvGeom, col []T, r0, r1 int, dx []T) {
	out := g.Out()
	oh, ow := out[1], out[2]
	id, ih, iw := g.In[0], g.In[1], g.In[2]
	kd, kh, kw := g.Kernel[0], g.Kernel[1], g.Kernel[2]
	sd, sh, sw := g.Stride[0], g.Stride[1], g.Stride[2]
	pd, ph, pw := g.Pad[0], g.Pad[1], g.Pad[2]
	k := kd * kh * kw
	nc := (r1 - r0) * ow
	parallelFor(g.InC, max(1, 1<<13/(nc*k)), func(lo, hi int) {
		for ci := lo; ci < hi; ci++ {
			xc := dx[ci*id*ih*iw : (ci+1)*id*ih*iw]
			for t := range k {
				kz, ky, kx := t/(kh*kw), t/kw%kh, t%kw
				src := col[(ci*k+t)*nc : (ci*k+t+1)*nc]
				oxLo := max(0, ceilDiv(pw-kx, sw))
				oxHi := min(ow, ceilDiv(iw+pw-kx, sw))
				if oxLo >= oxHi {
					continue
				}
				od, oy := r0/oh, r0%oh
				for r := r0; r < r1; r++ {
					iz, iy := od*sd-pd+kz, oy*sh-ph+ky
					if oy++; oy == oh {
						oy, od = 0, od+1
					}
					if iz < 0 || iz >= id || iy < 0 || iy >= ih {
						continue
					}
					ss := src[(r-r0)*ow+oxLo : (r-r0)*ow+oxHi]
					d := xc[(iz*ih+iy)*iw+oxLo*sw-pw+kx : (iz*ih+iy+1)*iw]
					switch sw {
					case 1:
						d = d[:len(ss)]
						for j, v := range ss {
							d[j] += v
						}
					case 2:
						for j, v := range ss {
							d[2*j] += v
						}
					default:
						for j, v := range ss {
							d[sw*j] += v
						}
					}
				}
			}
		}
	})
}

// ceilDiv is ⌈a/b⌉ for b > 0 and any sign of a.
func ceilDiv(a, b int) int {
	if a <= 0 {
		return -(-a / b)
	}
	return (a + b - 1) / b
}
