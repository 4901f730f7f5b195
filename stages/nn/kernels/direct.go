package kernels

import "github.com/nnrunner/nnrunner/stages/nn/blas"

// Direct convolution. A float32 convolution on a CPU with the tile kernels
// (AVX2/FMA) can skip the column matrix: the input is copied once into a
// zero-padded grid, and in that grid, flattened, output position o meets
// kernel tap (kz, ky, kx) of channel ci at input position
// ci·chanStride + o + kz·plane + ky·rowLen + kx. The convolution is then a
// product whose column-matrix rows are shifted views of the padded input,
// which the tile kernels read in place. Outputs are computed for every grid
// position up to the last real one (those falling in the padding are
// discarded) and copied out with the bias. Every output element is one FMA
// chain over (ci, tap) in order, whatever the number of goroutines.
//
// A strided convolution uses a polyphase grid: the padded input is split
// into stride-product phases, phase (a, b, c) holding the padded elements
// at (sd·z+a, sh·y+b, sw·x+c), all phases with the same sub-grid strides.
// Output (od, oy, ox) then meets tap (kz, ky, kx) in phase
// (kz mod sd, ky mod sh, kx mod sw) at sub-grid position
// (od + kz/sd, oy + ky/sh, ox + kx/sw): again a fixed offset per tap.

// tileRows and tileCols are the output channels and grid positions of one
// convTile4x24 call.
const tileRows, tileCols = 4, 24

// tilesPerBlock is how many neighbouring tiles run for every group of output
// channels before moving on, so their input stays in cache.
const tilesPerBlock = 4

// chunkTaps is how many column-matrix rows (input channel × kernel tap)
// one tile call sums before the next group of output channels runs, so that
// the input rows they read stay in L1: four channels of a 3×3×3 kernel.
// A strided forward sums half as many: its taps fall into different phases
// and share no rows, and 108 of them overflowed L1 (32→64 stride 2 at
// 2×32×40×40: 35.6 vs 28.6 ms).
const chunkTaps, chunkTapsStrided = 108, 54

// chunk is the chunk size of the forward product.
func (g *ConvGeom) chunk() int {
	if g.Stride == [3]int{1, 1, 1} {
		return chunkTaps
	}
	return chunkTapsStrided
}

// directMaxWaste and filterMaxWaste are the largest ratios of computed grid
// positions to real outputs for which the forward (and backward-data) and
// the weight-gradient passes take the direct path when GEMMs run on
// OpenBLAS: small volumes are mostly padding, and vol2col + OpenBLAS wins
// there (measured on the SynthMR U-Net's shapes: at 8×10×10, ratio 1.6, the
// direct weight gradient is still ahead and the direct forward behind; at
// 8×5×5, ratio 2.2, both are behind). The pure-Go GEMM is over ten times
// slower than the tile, so with it every eligible convolution goes direct.
const (
	directMaxWaste = 1.5
	filterMaxWaste = 1.8
)

// filterWaste is the waste limit of the direct weight gradient. Strided
// ones never take it with OpenBLAS: in the polyphase grid each input element
// serves only about 1/stride³ of the taps of a block, so the tile streams
// far more memory, and vol2col + OpenBLAS was ahead (32→64 stride 2 at
// 2×32×40×40: 68-70 vs 75-87 cpu-ms).
func (g *ConvGeom) filterWaste() float64 {
	if g.Stride != [3]int{1, 1, 1} {
		return 0
	}
	return filterMaxWaste
}

// gridLayout is the zero-padded (polyphase) grid of a direct convolution.
type gridLayout struct {
	rowLen, plane, vol int // strides of the padded (sub-)grid: row, depth slice, sample
	phase              int // elements per phase of one channel: N·vol
	span               int // grid positions computed (a multiple of tileCols)
	chanStride         int // elements per channel of the padded input
}

func (g *ConvGeom) grid() gridLayout {
	out := g.Out()
	var l gridLayout
	var sub [3]int // sub-grid size per axis
	for a := range 3 {
		sub[a] = ceilDiv(g.In[a]+2*g.Pad[a], g.Stride[a])
	}
	l.rowLen = sub[2]
	l.plane = sub[1] * l.rowLen
	l.vol = sub[0] * l.plane
	l.phase = g.N * l.vol
	last := (g.N-1)*l.vol + (out[0]-1)*l.plane + (out[1]-1)*l.rowLen + out[2]
	l.span = roundUp(last, tileCols)
	// The tiles past the last output read up to span + reach in the last
	// phase; round to whole cache lines, and to an odd number of them so
	// that channels do not all map to the same cache sets.
	reach := (g.Kernel[0]-1)/g.Stride[0]*l.plane + (g.Kernel[1]-1)/g.Stride[1]*l.rowLen + (g.Kernel[2]-1)/g.Stride[2]
	s := roundUp((prod(g.Stride)-1)*l.phase+max(l.phase, l.span+reach), 16)
	if s/16%2 == 0 {
		s += 16
	}
	l.chanStride = s
	return l
}

// tapOffset is the element offset, from the start of its channel, of the
// grid row that kernel tap t meets at output position 0.
func (g *ConvGeom) tapOffset(l *gridLayout, t int) int {
	kh, kw := g.Kernel[1], g.Kernel[2]
	kz, ky, kx := t/(kh*kw), t/kw%kh, t%kw
	sd, sh, sw := g.Stride[0], g.Stride[1], g.Stride[2]
	ph := (kz%sd*sh+ky%sh)*sw + kx%sw
	return ph*l.phase + kz/sd*l.plane + ky/sh*l.rowLen + kx/sw
}

func roundUp(a, b int) int { return (a + b - 1) / b * b }

// direct reports whether a pass over float32 data takes the direct path
// when its limit on computed grid positions per output is waste.
func (g *ConvGeom) direct(ws *Workspace, waste float64) bool {
	if !haveDirect || g.OutC%tileRows != 0 || g.pointwise() {
		return false
	}
	switch {
	case ws != nil && ws.maxWaste > 0:
		waste = ws.maxWaste
	case blas.Name() != "openblas":
		return true
	}
	l := g.grid()
	return float64(l.span) <= waste*float64(g.N*prod(g.Out()))
}

// convDirect is ConvForward's direct path (g.direct must hold).
func convDirect(ws *Workspace, g *ConvGeom, x, w, bias, y []float32) {
	l := g.grid()
	k := prod(g.Kernel)
	kc := g.InC * k
	xp := scratch[float32](ws, slotPad, g.InC*l.chanStride)
	padInput(g, &l, x, xp)

	// Byte offsets of the column-matrix rows, in weight order (ci, kz, ky, kx).
	offs := intScratch(ws, kc)
	for ci := range g.InC {
		for t := range k {
			offs[ci*k+t] = 4 * (ci*l.chanStride + g.tapOffset(&l, t))
		}
	}
	// Weights regrouped by tiles of output channels: wp[ct][i][r] = w[4ct+r][i].
	wp := scratch[float32](ws, slotPack, g.OutC*kc)
	parallelFor(g.OutC, max(1, 1<<14/kc), func(lo, hi int) {
		for co := lo; co < hi; co++ {
			ct, r := co/tileRows, co%tileRows
			for i, v := range w[co*kc : (co+1)*kc] {
				wp[(ct*kc+i)*tileRows+r] = v
			}
		}
	})

	yg := scratch[float32](ws, slotGrid, g.OutC*l.span)
	productTiles(xp, offs, wp, yg, g.OutC, l.span, g.outputTiles(ws, &l), g.chunk())
	unpadOutput(g, &l, yg, bias, y)
}

// productTiles computes y[r][j] = Σ_i wp[r/4][i][r%4] · x[offs[i]/4 + j]
// for rows r < rows (a multiple of 4) and the positions j of the listed
// tiles (tileCols positions each, in increasing order) with convTile4x24, y
// holding rows of ystride elements; the other positions of y are left as
// they are. Sums are split in chunks of chunk rows of the column matrix that
// continue the same FMA chains.
func productTiles(x []float32, offs []int, wp, y []float32, rows, ystride int, tiles []int, chunk int) {
	kc := len(offs)
	parallelFor(len(tiles), tilesPerBlock, func(lo, hi int) {
		for b := lo; b < hi; b += tilesPerBlock {
			block := tiles[b:min(b+tilesPerBlock, hi)]
			for i0 := 0; i0 < kc; i0 += chunk {
				n := min(chunk, kc-i0)
				for ct := range rows / tileRows {
					for _, t := range block {
						convTile4x24(&x[t*tileCols], &offs[i0], n, &wp[(ct*kc+i0)*tileRows],
							&y[ct*tileRows*ystride+t*tileCols], ystride, i0 > 0)
					}
				}
			}
		}
	})
}

// appendTiles appends to tiles, kept increasing and without repeats, the
// tiles that hold grid positions [lo, hi).
func appendTiles(tiles []int, lo, hi int) []int {
	t := lo / tileCols
	if n := len(tiles); n > 0 {
		t = max(t, tiles[n-1]+1)
	}
	for ; t*tileCols < hi; t++ {
		tiles = append(tiles, t)
	}
	return tiles
}

// outputTiles lists the tiles of the grid that hold at least one output
// position; the others fall entirely into padding and are not computed.
func (g *ConvGeom) outputTiles(ws *Workspace, l *gridLayout) []int {
	out := g.Out()
	tiles := tileScratch(ws)
	for n := range g.N {
		for z := range out[0] {
			for y := range out[1] {
				lo := n*l.vol + z*l.plane + y*l.rowLen
				tiles = appendTiles(tiles, lo, lo+out[2])
			}
		}
	}
	return keepTiles(ws, tiles)
}

// padInput writes x (N, InC, D, H, W) into the zero-padded (polyphase) grid
// xp, laid out (InC, chanStride); each channel holds the phases one after
// another, each phase the samples one after another.
func padInput(g *ConvGeom, l *gridLayout, x, xp []float32) {
	d, h, w := g.In[0], g.In[1], g.In[2]
	sd, sh, sw := g.Stride[0], g.Stride[1], g.Stride[2]
	pin := d * h * w
	if g.Stride == [3]int{1, 1, 1} {
		// One phase: the rows land in order, and only the gaps between
		// them are cleared.
		parallelFor(g.InC, 1, func(lo, hi int) {
			for ci := lo; ci < hi; ci++ {
				dst := xp[ci*l.chanStride : (ci+1)*l.chanStride]
				pos := 0
				for n := range g.N {
					src := x[(n*g.InC+ci)*pin : (n*g.InC+ci+1)*pin]
					for z := range d {
						for yy := range h {
							o := n*l.vol + (z+g.Pad[0])*l.plane + (yy+g.Pad[1])*l.rowLen + g.Pad[2]
							clear(dst[pos:o])
							copy(dst[o:o+w], src[(z*h+yy)*w:])
							pos = o + w
						}
					}
				}
				clear(dst[pos:])
			}
		})
		return
	}
	parallelFor(g.InC, 1, func(lo, hi int) {
		for ci := lo; ci < hi; ci++ {
			dst := xp[ci*l.chanStride : (ci+1)*l.chanStride]
			clear(dst)
			for n := range g.N {
				src := x[(n*g.InC+ci)*pin : (n*g.InC+ci+1)*pin]
				for z := range d {
					pz := z + g.Pad[0]
					for yy := range h {
						py := yy + g.Pad[1]
						row := src[(z*h+yy)*w:][:w]
						// Offset of padded (pz, py, 0) in its phase, less phase.
						base := n*l.vol + pz/sd*l.plane + py/sh*l.rowLen
						phase := (pz%sd*sh + py%sh) * sw
						if sw == 1 {
							copy(dst[phase*l.phase+base+g.Pad[2]:][:w], row)
							continue
						}
						// The elements of one phase are every sw-th of the row.
						for c := range min(sw, w) {
							px := c + g.Pad[2]
							out := dst[(phase+px%sw)*l.phase+base+px/sw:]
							for j, xx := 0, c; xx < w; j, xx = j+1, xx+sw {
								out[j] = row[xx]
							}
						}
					}
				}
			}
		}
	})
}

// unpadOutput copies the real outputs out of the grid result yg (OutC, span)
// into y (N, OutC, D, H, W), adding bias (nil for none).
func unpadOutput(g *ConvGeom, l *gridLayout, yg, bias, y []float32) {
	out := g.Out()
	p := prod(out)
	parallelFor(g.N*g.OutC, max(1, 1<<14/p), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			n, co := i/g.OutC, i%g.OutC
			src := yg[co*l.span+n*l.vol:]
			dst := y[i*p : (i+1)*p]
			var b float32
			if bias != nil {
				b = bias[co]
			}
			for z := range out[0] {
				for yy := range out[1] {
					s := src[z*l.plane+yy*l.rowLen:][:out[2]]
					d := dst[(z*out[1]+yy)*out[2]:][:out[2]]
					if bias == nil {
						copy(d, s)
						continue
					}
					for j, v := range s {
						d[j] = v + b
					}
				}
			}
		}
	})
}

// filterBlock is how many grid positions one filterTile4x3 call sums, so
// that the rows it reads stay in L1 while the tap triples of a work item
// run over them: a whole number of forward tiles, so that the blocks
// without outputs can be found from outputTiles.
const filterBlock = 21 * tileCols

// filterChans is how many input channels one weight-gradient work item
// covers (all of them when there are fewer): its lane accumulators (taps ×
// 4 × 8 floats) stay in L1.
const filterChans = 4

// convDirectFilter is ConvBackwardFilter's direct path for dw (g.direct
// must hold): dw[co][i] = Σ_o dy[co][o] · xpad[offs[i] + o] over the grid
// blocks that hold outputs, where dy is zero at the grid positions that are
// not outputs. Work items are (8 output channels, or 4 where OutC is not a
// multiple of 8, × filterChans input channels): the two tiles of 4 output
// channels read the same input rows while they are in L1. Each lane sums
// its positions in order and the lanes are then added in a fixed tree.
func convDirectFilter(ws *Workspace, g *ConvGeom, x, dy, dw []float32) {
	l := g.grid()
	k := prod(g.Kernel)
	kc := g.InC * k
	xp := scratch[float32](ws, slotPad, g.InC*l.chanStride)
	padInput(g, &l, x, xp)
	dyg := scratch[float32](ws, slotGrid, g.OutC*l.span)
	gridOutputGrad(g, &l, dy, dyg, l.span, 0)

	// Byte offsets of each group's taps, padded to whole triples with
	// offset 0 (valid memory; those sums are dropped).
	chans := min(filterChans, g.InC) // input channels per work item
	groups := ceilDiv(g.InC, chans)
	triples := ceilDiv(chans*k, 3)
	offs := intScratch(ws, groups*triples*3)
	for gi := range groups {
		o := offs[gi*triples*3 : (gi+1)*triples*3]
		clear(o)
		for s := 0; s < len(o) && gi*chans*k+s < kc; s++ {
			ci, t := gi*chans+s/k, s%k
			o[s] = 4 * (ci*l.chanStride + g.tapOffset(&l, t))
		}
	}
	// Start positions of the blocks that hold outputs.
	var blocks []int
	for _, t := range g.outputTiles(ws, &l) {
		if p0 := t * tileCols / filterBlock * filterBlock; len(blocks) == 0 || blocks[len(blocks)-1] != p0 {
			blocks = append(blocks, p0)
		}
	}
	cts := 1 // tiles of output channels per work item
	if g.OutC%(2*tileRows) == 0 {
		cts = 2
	}
	const tileAcc = tileRows * 3 * 8 // lane accumulators of one tile
	parallelFor(g.OutC/tileRows/cts*groups, 1, func(lo, hi int) {
		acc := make([]float32, cts*triples*tileAcc)
		for it := lo; it < hi; it++ {
			ct0, gi := it/groups*cts, it%groups
			clear(acc)
			o := offs[gi*triples*3:]
			for _, p0 := range blocks {
				n := min(filterBlock, l.span-p0) / 8
				for j := range triples {
					for c := range cts {
						filterTile4x3(&dyg[(ct0+c)*tileRows*l.span+p0], l.span, &xp[p0], &o[3*j], n, &acc[(c*triples+j)*tileAcc])
					}
				}
			}
			for c := range cts {
				ct, ca := ct0+c, acc[c*triples*tileAcc:]
				for s := range min(chans*k, kc-gi*chans*k) {
					j, jj := s/3, s%3
					for r := range tileRows {
						a := ca[j*tileAcc+(3*r+jj)*8:][:8]
						dw[(ct*tileRows+r)*kc+gi*chans*k+s] = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
					}
				}
			}
		}
	})
}

// gridOutputGrad writes dy (N, OutC, D, H, W) into the grid layout dyg: one
// row of rowLen elements per output channel, the grid positions starting at
// offset margin of the row; zero at the grid positions that are not outputs
// (the margin is left as it is).
func gridOutputGrad(g *ConvGeom, l *gridLayout, dy, dyg []float32, rowLen, margin int) {
	out := g.Out()
	p := prod(out)
	parallelFor(g.OutC, 1, func(lo, hi int) {
		for co := lo; co < hi; co++ {
			dst := dyg[co*rowLen+margin : (co+1)*rowLen]
			pos := 0 // the rows land in order; only the gaps are cleared
			for n := range g.N {
				src := dy[(n*g.OutC+co)*p : (n*g.OutC+co+1)*p]
				for z := range out[0] {
					for yy := range out[1] {
						o := n*l.vol + z*l.plane + yy*l.rowLen
						clear(dst[pos:o])
						copy(dst[o:o+out[2]], src[(z*out[1]+yy)*out[2]:])
						pos = o + out[2]
					}
				}
			}
			clear(dst[pos:])
		}
	})
}

// directData reports whether ConvBackwardData of float32 data takes the
// direct strided path (stride-1 convolutions use the flipped forward
// instead): the input-gradient tiles are rows of 4 input channels.
func (g *ConvGeom) directData(ws *Workspace) bool {
	if g.InC%tileRows != 0 || g.flippable() {
		return false
	}
	gt := *g
	gt.OutC = tileRows // the waste test below does not depend on OutC
	return gt.direct(ws, directMaxWaste)
}

// convDirectData is ConvBackwardData's direct path (g.directData must hold).
// It inverts the forward's polyphase product: phase ph of the padded input
// gradient at sub-grid position q sums w[co][ci][t] · dy[co][q − d(t)] over
// output channels co and the taps t of that phase, where d(t) is the tap's
// offset within its phase. That is a product of the same shape as the
// forward's, over dy in grid layout behind a zero margin of the largest
// d(t), computed by the same tile; the phases are then gathered back into dx.
func convDirectData(ws *Workspace, g *ConvGeom, dy, w, dx []float32) {
	l := g.grid()
	k := prod(g.Kernel)
	phases := prod(g.Stride)
	taps := make([][]int, phases) // kernel taps of each phase, in order
	margin := 0                   // the largest offset of a tap in its phase
	for t := range k {
		ph := g.tapOffset(&l, t) / l.phase
		taps[ph] = append(taps[ph], t)
		margin = max(margin, g.tapOffset(&l, t)-ph*l.phase)
	}
	qr := roundUp(l.phase, tileCols) // sub-grid positions computed per phase
	rowLen := margin + qr
	dyg := scratch[float32](ws, slotPad, g.OutC*rowLen)
	parallelFor(g.OutC, 1, func(lo, hi int) {
		for co := lo; co < hi; co++ {
			clear(dyg[co*rowLen : co*rowLen+margin])
		}
	})
	gridOutputGrad(g, &l, dy, dyg, rowLen, margin)

	dq := scratch[float32](ws, slotGrid, phases*g.InC*qr)
	wp := scratch[float32](ws, slotPack, g.OutC*g.InC*k)
	offs := intScratch(ws, g.OutC*k)
	for ph, ts := range taps {
		kc := g.OutC * len(ts)
		out := dq[ph*g.InC*qr : (ph+1)*g.InC*qr]
		if kc == 0 {
			clear(out)
			continue
		}
		// Rows (co, t) of this phase; weights by tiles of input channels:
		// wp[ct][(co, t)][r] = w[co][4ct+r][t].
		for co := range g.OutC {
			for j, t := range ts {
				i := co*len(ts) + j
				offs[i] = 4 * (co*rowLen + margin - (g.tapOffset(&l, t) - ph*l.phase))
				for ci := range g.InC {
					wp[(ci/tileRows*kc+i)*tileRows+ci%tileRows] = w[(co*g.InC+ci)*k+t]
				}
			}
		}
		productTiles(dyg, offs[:kc], wp[:g.InC*kc], out, g.InC, qr, g.inputTiles(ws, &l, ph), chunkTaps)
	}
	gatherInputGrad(g, &l, dq, qr, dx)
}

// inputTiles lists the tiles of polyphase phase ph (numbered as in
// tapOffset) that hold at least one input position; the others fall
// entirely into padding and are not computed.
func (g *ConvGeom) inputTiles(ws *Workspace, l *gridLayout, ph int) []int {
	sd, sh, sw := g.Stride[0], g.Stride[1], g.Stride[2]
	a, b, c := ph/(sh*sw), ph/sw%sh, ph%sw
	first := func(phase, pad, s int) int { return ((phase-pad)%s + s) % s } // first input index in the phase
	x0 := first(c, g.Pad[2], sw)
	tiles := tileScratch(ws)
	if x0 >= g.In[2] {
		return keepTiles(ws, tiles)
	}
	nx := (g.In[2]-1-x0)/sw + 1
	for n := range g.N {
		for z := first(a, g.Pad[0], sd); z < g.In[0]; z += sd {
			for y := first(b, g.Pad[1], sh); y < g.In[1]; y += sh {
				lo := n*l.vol + (z+g.Pad[0])/sd*l.plane + (y+g.Pad[1])/sh*l.rowLen + (x0+g.Pad[2])/sw
				tiles = appendTiles(tiles, lo, lo+nx)
			}
		}
	}
	return keepTiles(ws, tiles)
}

// gatherInputGrad writes dx (N, InC, D, H, W) from the polyphase input
// gradient dq (phase, InC, qr), dropping the padding.
func gatherInputGrad(g *ConvGeom, l *gridLayout, dq []float32, qr int, dx []float32) {
	d, h, w := g.In[0], g.In[1], g.In[2]
	sd, sh, sw := g.Stride[0], g.Stride[1], g.Stride[2]
	pin := d * h * w
	parallelFor(g.N*g.InC, max(1, 1<<14/pin), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			n, ci := i/g.InC, i%g.InC
			dst := dx[i*pin : (i+1)*pin]
			for z := range d {
				pz := z + g.Pad[0]
				for yy := range h {
					py := yy + g.Pad[1]
					base := n*l.vol + pz/sd*l.plane + py/sh*l.rowLen
					phase := (pz%sd*sh + py%sh) * sw
					row := dst[(z*h+yy)*w:][:w]
					// The elements of one phase are every sw-th of the row.
					for c := range min(sw, w) {
						px := c + g.Pad[2]
						src := dq[((phase+px%sw)*g.InC+ci)*qr+base+px/sw:]
						for j, xx := 0, c; xx < w; j, xx = j+1, xx+sw {
							row[xx] = src[j]
						}
					}
				}
			}
		}
	})
}
