package train

import (
	"bytes"
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/fovea-ml/fovea/internal/durable"
)

// Loss-plot size.
const (
	plotWidth  = 16 * vg.Centimeter
	plotHeight = 9 * vg.Centimeter
)

// stageColors are the train-loss line colours of successive stages.
func stageColors() []color.RGBA {
	return []color.RGBA{{0x1f, 0x77, 0xb4, 0xff}, {0xd6, 0x27, 0x28, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0x94, 0x67, 0xbd, 0xff}}
}

// writeLossPlot draws the train loss per step (one line per stage) and
// the eval losses (black points) with gonum's plot and writes the PNG
// atomically.
func writeLossPlot(path string, log []LogEntry, stages []Stage) error {
	p := plot.New()
	p.Title.Text = "training loss"
	p.X.Label.Text = "step"
	p.Y.Label.Text = "loss (nats per target token)"
	cols := stageColors()
	var eval plotter.XYs
	for si, s := range stages {
		var xy plotter.XYs
		for _, e := range log {
			if e.Stage == si {
				xy = append(xy, plotter.XY{X: float64(e.Step), Y: e.Loss})
			}
		}
		if len(xy) == 0 {
			continue
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return err
		}
		l.Color = cols[si%len(cols)]
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("train: %s", s.Name), l)
	}
	for _, e := range log {
		if e.HasEval {
			eval = append(eval, plotter.XY{X: float64(e.Step), Y: e.EvalLoss})
		}
	}
	if len(eval) > 0 {
		sc, err := plotter.NewScatter(eval)
		if err != nil {
			return err
		}
		p.Add(sc)
		p.Legend.Add("eval", sc)
	}
	w, err := p.WriterTo(plotWidth, plotHeight, "png")
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := durable.WriteFile(tmp, buf.Bytes()); err != nil {
		return err
	}
	return renameFile(tmp, path)
}
