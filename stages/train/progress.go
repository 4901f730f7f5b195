package train

import (
	"bytes"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// curve is one line of a progress panel.
type curve struct {
	name string
	v    []Float
	c    color.RGBA
}

// writeProgress draws upstream's progress.png: losses with pseudo Dice and
// its EMA, epoch duration, and learning rate, one panel each.
func writeProgress(path string, lg *Logging) error {
	series := func(v []Float) plotter.XYs {
		xy := make(plotter.XYs, 0, len(v))
		for i, f := range v {
			if !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0) {
				xy = append(xy, plotter.XY{X: float64(i), Y: float64(f)})
			}
		}
		return xy
	}
	durations := make([]Float, len(lg.EpochEnd))
	for i := range durations {
		durations[i] = lg.EpochEnd[i] - lg.EpochStart[i]
	}
	panels := []struct {
		title, ylabel string
		lines         []curve
	}{
		{"losses and pseudo Dice", "loss / dice", []curve{
			{"train loss", lg.TrainLosses, color.RGBA{B: 200, A: 255}},
			{"val loss", lg.ValLosses, color.RGBA{R: 200, A: 255}},
			{"pseudo dice", lg.MeanFgDice, color.RGBA{G: 160, A: 255}},
			{"pseudo dice (EMA)", lg.EMAFgDice, color.RGBA{G: 90, A: 255}},
		}},
		{"epoch duration", "seconds", []curve{{"epoch duration", durations, color.RGBA{B: 200, A: 255}}}},
		{"learning rate", "learning rate", []curve{{"learning rate", lg.LRs, color.RGBA{B: 200, A: 255}}}},
	}
	plots := make([][]*plot.Plot, len(panels))
	for i, pn := range panels {
		p := plot.New()
		p.Title.Text = pn.title
		p.X.Label.Text = "epoch"
		p.Y.Label.Text = pn.ylabel
		for _, l := range pn.lines {
			xy := series(l.v)
			if len(xy) == 0 {
				continue
			}
			line, err := plotter.NewLine(xy)
			if err != nil {
				return fmt.Errorf("progress plot: %w", err)
			}
			line.Color = l.c
			p.Add(line)
			p.Legend.Add(l.name, line)
		}
		p.Legend.Top = true
		plots[i] = []*plot.Plot{p}
	}
	img := vgimg.New(9*vg.Inch, 12*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 2 * vg.Millimeter}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return fmt.Errorf("progress plot: %w", err)
	}
	return writeFileAtomic(path, buf.Bytes())
}
