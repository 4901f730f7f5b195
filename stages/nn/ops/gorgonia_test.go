package ops

import (
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestGorgoniaStarts catches the init panic of go4.org/unsafe/assume-no-moving-gc
// on new Go releases (it must be pinned to a version that knows the runtime)
// and checks that a tiny graph differentiates correctly on the TapeMachine.
func TestGorgoniaStarts(t *testing.T) {
	g := G.NewGraph()
	w := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 3), G.WithName("w"),
		G.WithValue(tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float64{1, 2, 3, 4, 5, 6}))))
	x := G.NewVector(g, tensor.Float64, G.WithShape(3), G.WithName("x"),
		G.WithValue(tensor.New(tensor.WithShape(3), tensor.WithBacking([]float64{1, -1, 2}))))
	y, err := G.Mul(w, x)
	if err != nil {
		t.Fatal(err)
	}
	cost, err := G.Sum(y)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := G.Grad(cost, w); err != nil {
		t.Fatal(err)
	}
	var costVal G.Value
	G.Read(cost, &costVal)
	m := G.NewTapeMachine(g, G.BindDualValues(w))
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	// y = [1-2+6, 4-5+12] = [5, 11]; cost = 16; dcost/dw[i][j] = x[j].
	if got := costVal.Data().(float64); got != 16 {
		t.Errorf("cost = %v, want 16", got)
	}
	gw, err := w.Grad()
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{1, -1, 2, 1, -1, 2}
	for i, v := range gw.Data().([]float64) {
		if v != want[i] {
			t.Fatalf("dw = %v, want %v", gw.Data(), want)
		}
	}
}
