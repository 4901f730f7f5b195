package kernels

import (
	"fmt"
	"testing"
)

func BenchmarkTuneBudget(b *testing.B) {
	g := benchConv
	x := to32(randSlice(1, g.InLen()))
	w := to32(randSlice(2, g.WeightLen()))
	y := to32(randSlice(4, g.OutLen()))
	dw := make([]float32, g.WeightLen())
	for _, bud := range []int{1 << 16, 1 << 17, 1 << 18, 1 << 19, 1 << 20, 1 << 21} {
		for _, pass := range []string{"fwd", "filter"} {
			b.Run(fmt.Sprintf("%s_%d", pass, bud), func(b *testing.B) {
				ws := Workspace{colBudget: bud}
				cpu0 := cpuTime()
				for b.Loop() {
					if pass == "fwd" {
						ConvForward(&ws, g, x, w, nil, y)
					} else {
						ConvBackwardFilter(&ws, g, x, y, dw, nil)
					}
				}
				reportGFLOPs(b, g.FLOPs(), cpu0)
			})
		}
	}
}
