package resample

import (
	"math/rand/v2"
	"testing"
)

// benchVolume returns a CT-sized test volume and a label map.
func benchVolume(in Shape) ([]float32, []int16) {
	rng := rand.New(rand.NewPCG(3, 4))
	src := make([]float32, in.Len())
	seg := make([]int16, in.Len())
	for x := 0; x < in[0]; x++ {
		for y := 0; y < in[1]; y++ {
			for z := 0; z < in[2]; z++ {
				i := (x*in[1]+y)*in[2] + z
				src[i] = float32(x+y+z) + rng.Float32()
				if (y-in[1]/2)*(y-in[1]/2)+(z-in[2]/2)*(z-in[2]/2) < in[1]*in[2]/8 {
					seg[i] = int16(1 + x%2)
				}
			}
		}
	}
	return src, seg
}

// BenchmarkResample times data (order 3) and segmentation (order 1)
// resampling of a 40x100x100 volume on the 3-D and the separate-z path.
func BenchmarkResample(b *testing.B) {
	in := Shape{40, 100, 100}
	src, seg := benchVolume(in)
	for _, bc := range []struct {
		name     string
		out      Shape
		cur, tgt [3]float64
	}{
		{"3d", Shape{48, 120, 120}, [3]float64{1.2, 0.8, 0.8}, [3]float64{1, 0.667, 0.667}},
		{"separate-z", Shape{43, 120, 120}, [3]float64{3.2, 0.8, 0.8}, [3]float64{3, 0.667, 0.667}},
	} {
		dst := make([]float32, bc.out.Len())
		lab := make([]int16, bc.out.Len())
		b.Run(bc.name+"/data", func(b *testing.B) {
			for b.Loop() {
				if err := Data(dst, bc.out, src, in, bc.cur, bc.tgt, Options{Order: 3, Workers: 1}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"/seg", func(b *testing.B) {
			for b.Loop() {
				if err := Seg(lab, bc.out, seg, in, bc.cur, bc.tgt, Options{Order: 1, Workers: 1}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
