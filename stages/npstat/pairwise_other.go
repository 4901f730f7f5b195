//go:build !amd64

package npstat

// leaf32 is pairwiseLeafGo for float32 (8 <= len(a) <= 128).
func leaf32(a []float32) float32 { return pairwiseLeafGo(a) }
