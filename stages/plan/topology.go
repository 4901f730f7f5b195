package plan

import "math"

// Topology is the result of upstream's get_pool_and_conv_props (spec §4.6).
type Topology struct {
	NumPoolPerAxis []int
	Strides        [][]int // pool_op_kernel_sizes; Strides[0] is all ones
	KernelSizes    [][]int // conv_kernel_sizes; the last entry is the bottleneck's
	PatchSize      []int   // the input patch padded to a multiple of Divisible
	Divisible      []int   // shape_must_be_divisible_by = 2^NumPoolPerAxis
}

// NumStages returns the number of resolution stages.
func (t *Topology) NumStages() int { return len(t.Strides) }

// PoolConvProps derives the pooling and convolution topology for a patch
// (entries may be fractional when clipped to a median shape) at the given
// spacing, exactly as upstream's get_pool_and_conv_props: axes are pooled
// while their feature map is at least 2*minEdge and their spacing within a
// factor 2 of the finest poolable axis.
func PoolConvProps(spacing, patch []float64, minEdge, maxNumPool int) Topology {
	dim := len(spacing)
	curSp := append([]float64(nil), spacing...)
	curSz := append([]float64(nil), patch...)
	numPool := make([]int, dim)
	kernel := make([]int, dim)
	for i := range kernel {
		kernel[i] = 1
	}
	t := Topology{Strides: [][]int{ones(dim)}}
	for {
		var valid []int
		for i := range dim {
			if curSz[i] >= float64(2*minEdge) {
				valid = append(valid, i)
			}
		}
		if len(valid) == 0 {
			break
		}
		minSp := math.Inf(1)
		for _, i := range valid {
			minSp = min(minSp, curSp[i])
		}
		kept := valid[:0]
		for _, i := range valid {
			if curSp[i]/minSp < 2 && numPool[i] < maxNumPool {
				kept = append(kept, i)
			}
		}
		valid = kept
		if len(valid) == 1 && curSz[valid[0]] < float64(3*minEdge) {
			break
		}
		if len(valid) == 0 {
			break
		}
		minAll := math.Inf(1)
		for _, s := range curSp {
			minAll = min(minAll, s)
		}
		for d := range dim {
			if kernel[d] != 3 && curSp[d]/minAll < 2 {
				kernel[d] = 3
			}
		}
		pool := ones(dim)
		for _, v := range valid {
			pool[v] = 2
			numPool[v]++
			curSp[v] *= 2
			curSz[v] = math.Ceil(curSz[v] / 2)
		}
		t.Strides = append(t.Strides, pool)
		t.KernelSizes = append(t.KernelSizes, append([]int(nil), kernel...))
	}
	t.NumPoolPerAxis = numPool
	t.Divisible = make([]int, dim)
	for i, n := range numPool {
		t.Divisible[i] = 1 << n
	}
	t.PatchSize = padShape(patch, t.Divisible)
	t.KernelSizes = append(t.KernelSizes, threes(dim))
	return t
}

// padShape rounds each axis up to the next multiple of div (upstream
// pad_shape; Python's float modulo for fractional sizes, then int()).
func padShape(shape []float64, div []int) []int {
	out := make([]int, len(shape))
	for i, s := range shape {
		d := float64(div[i])
		r := pyMod(s, d)
		n := s + d - r
		if r == 0 {
			n -= d
		}
		out[i] = int(n)
	}
	return out
}

// pyMod is Python's float % (result has the sign of the divisor).
func pyMod(a, b float64) float64 {
	r := math.Mod(a, b)
	if r != 0 && (r < 0) != (b < 0) {
		r += b
	}
	return r
}

func ones(n int) []int {
	v := make([]int, n)
	for i := range v {
		v[i] = 1
	}
	return v
}

func threes(n int) []int {
	v := make([]int, n)
	for i := range v {
		v[i] = 3
	}
	return v
}
