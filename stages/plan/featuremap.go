package plan

// FeatureMapSize is dynamic_network_architectures'
// compute_conv_feature_map_size of a PlainConvUNet with deep supervision off
// (what the planner uses as its VRAM proxy; spec §4.8): the summed output
// sizes of every convolution, transposed convolution and the final
// segmentation layer, for an input patch.
func FeatureMapSize(patch []int, features []int, strides [][]int, nConvEnc, nConvDec []int, numClasses int) int64 {
	n := len(strides)
	size := make([]int64, len(patch))
	for i, p := range patch {
		size[i] = int64(p)
	}
	skips := make([][]int64, n)
	var total int64
	for s := range n {
		next := make([]int64, len(size))
		for i := range size {
			next[i] = size[i] / int64(strides[s][i])
		}
		total += int64(nConvEnc[s]) * int64(features[s]) * prod(next)
		skips[s] = next
		size = next
	}
	for t := 0; t < n-1; t++ {
		r := prod(skips[n-2-t])
		f := int64(features[n-2-t])
		total += int64(nConvDec[t])*f*r + f*r
		if t == n-2 {
			total += int64(numClasses) * r
		}
	}
	return total
}

func prod(v []int64) int64 {
	p := int64(1)
	for _, x := range v {
		p *= x
	}
	return p
}
