//go:build !amd64

package npstat

// leaf32 is pairwiseLeafGo for float32 (8 <= len(a) <= 128).
func leaf32(a []float32) float32 { return pairwiseLeafGo(a) }

// leaves32 sets out[k] to the leaf sum of a[128k:128k+128] for every k
// (len(a) == 128*len(out)).
func leaves32(a, out []float32) {
	for k := range out {
		out[k] = pairwiseLeafGo(a[128*k : 128*k+128])
	}
}
