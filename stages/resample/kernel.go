package resample

import (
	"math"
	"sync"
)

// number is the element type of a resampling source.
type number interface{ ~float32 | ~float64 }

// lineWidth is the number of neighbouring lines along a strided axis that
// are filtered together, so that memory is read in contiguous rows.
const lineWidth = 32

// parallel splits [0, n) into at most workers contiguous ranges of equal size
// and runs fn on each in its own goroutine. The split depends only on n and
// workers, and callers compute every output element independently of it.
func parallel(workers, n int, fn func(from, to int)) {
	if workers > n {
		workers = n
	}
	if workers <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	for k := 0; k < workers; k++ {
		from, to := k*n/workers, (k+1)*n/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(from, to)
		}()
	}
	wg.Wait()
}

// minMax returns the smallest and largest value of v.
func minMax[S number](v []S) (float64, float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range v {
		f := float64(x)
		if f < lo {
			lo = f
		}
		if f > hi {
			hi = f
		}
	}
	return lo, hi
}

// tensor evaluates an order 0 or 1 resize of src (shape in) at output rows
// [x0, x1) of dst (shape out), summing the corner terms ((v*wx)*wy)*wz in
// scipy's order, and clips to [lo, hi].
func tensor[S number](dst []float32, out Shape, src []S, in Shape, maps [3]*axisMap, lo, hi float64, x0, x1 int) {
	mx, my, mz := maps[0], maps[1], maps[2]
	for x := x0; x < x1; x++ {
		for y := 0; y < out[1]; y++ {
			row := dst[(x*out[1]+y)*out[2] : (x*out[1]+y+1)*out[2]]
			for z := range row {
				t := 0.0
				for a := 0; a < mx.ntap[x]; a++ {
					for b := 0; b < my.ntap[y]; b++ {
						base := (mx.idx[x][a]*in[1] + my.idx[y][b]) * in[2]
						wab := mx.w[x][a]
						for c := 0; c < mz.ntap[z]; c++ {
							v := float64(src[base+mz.idx[z][c]])
							v = float64(v * wab)
							v = float64(v * my.w[y][b])
							t += float64(v * mz.w[z][c])
						}
					}
				}
				if t < lo {
					t = lo
				} else if t > hi {
					t = hi
				}
				row[z] = float32(t)
			}
		}
	}
}

// labelTensor resizes a label map at output rows [x0, x1): for each label
// among the corners it sums the corner weights ((1*wx)*wy)*wz in scipy's
// order; the largest label whose sum reaches 0.5 wins, else 0. Voxels whose
// corners all carry one label take it directly (its weights sum to 1).
func labelTensor(dst []int16, out Shape, src []int16, in Shape, maps [3]*axisMap, x0, x1 int) {
	mx, my, mz := maps[0], maps[1], maps[2]
	const corners = maxTaps * maxTaps * maxTaps
	var labels [corners]int16
	var sums [corners]float64
	// Row offsets and weight products of the (x, y) taps of one output row.
	var rb [maxTaps * maxTaps]int
	var rw [maxTaps * maxTaps]float64
	for x := x0; x < x1; x++ {
		for y := 0; y < out[1]; y++ {
			nr := 0
			for a := 0; a < mx.ntap[x]; a++ {
				for b := 0; b < my.ntap[y]; b++ {
					rb[nr] = (mx.idx[x][a]*in[1] + my.idx[y][b]) * in[2]
					rw[nr] = float64(mx.w[x][a] * my.w[y][b])
					nr++
				}
			}
			row := dst[(x*out[1]+y)*out[2] : (x*out[1]+y+1)*out[2]]
			for z := range row {
				nz, zi, zw := mz.ntap[z], &mz.idx[z], &mz.w[z]
				l0 := src[rb[0]+zi[0]]
				uniform := true
				for r := 0; r < nr && uniform; r++ {
					for c := 0; c < nz; c++ {
						if src[rb[r]+zi[c]] != l0 {
							uniform = false
							break
						}
					}
				}
				if uniform {
					row[z] = l0
					continue
				}
				n := 0
				for r := 0; r < nr; r++ {
					for c := 0; c < nz; c++ {
						l := src[rb[r]+zi[c]]
						p := float64(rw[r] * zw[c])
						k := 0
						for k < n && labels[k] != l {
							k++
						}
						if k == n {
							labels[n], sums[n] = l, 0
							n++
						}
						sums[k] += p
					}
				}
				best, found := int16(0), false
				for k := 0; k < n; k++ {
					if sums[k] >= 0.5 && (!found || labels[k] > best) {
						best, found = labels[k], true
					}
				}
				row[z] = best
			}
		}
	}
}

// copyNearest resamples src (shape in) along axis with nearest neighbour
// (map_coordinates order 0, mode "nearest") into dst (shape out); the other
// axes are unchanged, so whole rows or planes are copied.
func copyNearest[T any](dst []T, out Shape, src []T, in Shape, axis int) {
	m := newAxisMap(in[axis], out[axis], 0)
	switch axis {
	case 0:
		plane := in[1] * in[2]
		for o := 0; o < out[0]; o++ {
			i := m.idx[o][0]
			copy(dst[o*plane:(o+1)*plane], src[i*plane:(i+1)*plane])
		}
	case 1:
		for x := 0; x < out[0]; x++ {
			for o := 0; o < out[1]; o++ {
				i := m.idx[o][0]
				copy(dst[(x*out[1]+o)*out[2]:][:out[2]], src[(x*in[1]+i)*in[2]:][:in[2]])
			}
		}
	default:
		for r := 0; r < out[0]*out[1]; r++ {
			d, s := dst[r*out[2]:(r+1)*out[2]], src[r*in[2]:(r+1)*in[2]]
			for o := range d {
				d[o] = s[m.idx[o][0]]
			}
		}
	}
}

// cubicPass resizes the middle axis of src, viewed as (outer, n, inner), to
// am.out samples into dst, viewed as (outer, am.out, inner), for the work
// units [u0, u1); a unit is one outer index and one chunk of up to
// lineWidth inner indices. buf must hold (n+2*cubicPad)*lineWidth values.
func cubicPass[S number](dst []float64, src []S, outer, inner int, am *axisMap, buf []float64, u0, u1 int) {
	n, m := am.in, am.out
	np := n + 2*cubicPad
	chunks := (inner + lineWidth - 1) / lineWidth
	for u := u0; u < u1; u++ {
		o, j0 := u/chunks, (u%chunks)*lineWidth
		w := min(lineWidth, inner-j0)
		c := buf[:np*w]
		for p := 0; p < np; p++ {
			i := clampIndex(p-cubicPad, n)
			s := src[(o*n+i)*inner+j0 : (o*n+i)*inner+j0+w]
			row := c[p*w : (p+1)*w]
			for j := range row {
				row[j] = float64(s[j])
			}
		}
		prefilterLines(c, np, w)
		if w == 1 {
			d := dst[o*m : (o+1)*m]
			for q := range d {
				st := am.start[q]
				wt := &am.cubic[q]
				if st >= 0 && st+3 < np {
					d[q] = c[st]*wt[0] + c[st+1]*wt[1] + c[st+2]*wt[2] + c[st+3]*wt[3]
					continue
				}
				d[q] = c[clampIndex(st, np)]*wt[0] + c[clampIndex(st+1, np)]*wt[1] + c[clampIndex(st+2, np)]*wt[2] + c[clampIndex(st+3, np)]*wt[3]
			}
			continue
		}
		for q := 0; q < m; q++ {
			st := am.start[q]
			wt := &am.cubic[q]
			r0 := c[clampIndex(st, np)*w:][:w]
			r1 := c[clampIndex(st+1, np)*w:][:w]
			r2 := c[clampIndex(st+2, np)*w:][:w]
			r3 := c[clampIndex(st+3, np)*w:][:w]
			d := dst[(o*m+q)*inner+j0 : (o*m+q)*inner+j0+w]
			for j := range d {
				d[j] = r0[j]*wt[0] + r1[j]*wt[1] + r2[j]*wt[2] + r3[j]*wt[3]
			}
		}
	}
}

// scratch holds one goroutine's reusable buffers for cubicAxes.
type scratch struct {
	line, a, b []float64
}

// take returns buf resized to n values, reallocating only when it grows.
func take(buf *[]float64, n int) []float64 {
	if cap(*buf) < n {
		*buf = make([]float64, n)
	}
	return (*buf)[:n]
}

// cubicAxes resizes src (shape in) to shape out with the cubic B-spline,
// axis by axis, skipping axes whose extent is unchanged, and returns the
// float64 result. With sc == nil each pass is split over workers and
// allocates its own buffers; with sc the caller's goroutine does all the
// work in sc's buffers, and the result aliases them until the next call.
func cubicAxes[S number](src []S, in, out Shape, workers int, sc *scratch) []float64 {
	sh := in
	var cur []float64
	first := true
	inA := false // whether cur is sc.a
	for a := 0; a < 3; a++ {
		if in[a] == out[a] {
			continue
		}
		am := newAxisMap(in[a], out[a], 3)
		outer, inner := 1, 1
		for i := 0; i < a; i++ {
			outer *= sh[i]
		}
		for i := a + 1; i < 3; i++ {
			inner *= sh[i]
		}
		units := outer * ((inner + lineWidth - 1) / lineWidth)
		lineLen := (in[a] + 2*cubicPad) * lineWidth
		var next []float64
		pass := func(buf []float64, from, to int) {
			if first {
				cubicPass(next, src, outer, inner, am, buf, from, to)
			} else {
				cubicPass(next, cur, outer, inner, am, buf, from, to)
			}
		}
		if sc != nil {
			// Ping-pong between the two volume buffers.
			if inA {
				next = take(&sc.b, outer*out[a]*inner)
			} else {
				next = take(&sc.a, outer*out[a]*inner)
			}
			inA = !inA
			pass(take(&sc.line, lineLen), 0, units)
		} else {
			next = make([]float64, outer*out[a]*inner)
			parallel(workers, units, func(from, to int) {
				pass(make([]float64, lineLen), from, to)
			})
		}
		first = false
		cur = next
		sh[a] = out[a]
	}
	if first {
		cur = make([]float64, len(src))
		for i, v := range src {
			cur[i] = float64(v)
		}
	}
	return cur
}

// clipTo writes v clipped to [lo, hi] into dst as float32.
func clipTo(dst []float32, v []float64, lo, hi float64) {
	for i, t := range v {
		if t < lo {
			t = lo
		} else if t > hi {
			t = hi
		}
		dst[i] = float32(t)
	}
}

// resizeVolume is skimage.transform.resize(src, out, order, mode="edge",
// anti_aliasing=False) of a whole 3-D channel, clipped to its input range.
func resizeVolume(dst []float32, out Shape, src []float32, in Shape, order, workers int) {
	lo, hi := minMax(src)
	if order == 3 {
		res := cubicAxes(src, in, out, workers, nil)
		parallel(workers, len(res), func(from, to int) {
			clipTo(dst[from:to], res[from:to], lo, hi)
		})
		return
	}
	maps := [3]*axisMap{newAxisMap(in[0], out[0], order), newAxisMap(in[1], out[1], order), newAxisMap(in[2], out[2], order)}
	parallel(workers, out[0], func(from, to int) {
		tensor(dst, out, src, in, maps, lo, hi, from, to)
	})
}

// resizeSlices resizes every slice orthogonal to axis of src (shape in) to
// the in-plane extents of mid (whose extent along axis equals in's), each
// slice clipped to its own input range, as the separate-z path does.
func resizeSlices(dst []float32, mid Shape, src []float32, in Shape, axis, order, workers int) {
	h, w := planeShape(in, axis)
	h2, w2 := planeShape(mid, axis)
	maps := [3]*axisMap{newAxisMap(1, 1, 0), newAxisMap(h, h2, order), newAxisMap(w, w2, order)}
	parallel(workers, in[axis], func(from, to int) {
		slice := make([]float32, h*w)
		res := make([]float32, h2*w2)
		var sc scratch
		for i := from; i < to; i++ {
			gather(slice, src, in, axis, i)
			lo, hi := minMax(slice)
			if order == 3 {
				clipTo(res, cubicAxes(slice, Shape{1, h, w}, Shape{1, h2, w2}, 1, &sc), lo, hi)
			} else {
				tensor(res, Shape{1, h2, w2}, slice, Shape{1, h, w}, maps, lo, hi, 0, 1)
			}
			scatter(dst, mid, res, axis, i)
		}
	})
}
