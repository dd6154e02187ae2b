package train

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
)

// Loss-plot geometry (pixels).
const (
	plotW, plotH = 640, 360
	plotMargin   = 24
)

// stageColors are the train-loss line colours of successive stages; eval
// points are black.
func stageColors() []color.RGBA {
	return []color.RGBA{{0x1f, 0x77, 0xb4, 0xff}, {0xd6, 0x27, 0x28, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0x94, 0x67, 0xbd, 0xff}}
}

// writeLossPlot draws the train loss per step (one colour per stage, a
// grey line at each stage start) and the eval losses (black squares) on a
// log-free linear scale, and writes it atomically as a PNG. It is drawn
// with image/png directly: the plot library would pull a newer gonum than
// the one gorgonia pins.
func writeLossPlot(path string, log []LogEntry, stages []Stage) error {
	img := image.NewRGBA(image.Rect(0, 0, plotW, plotH))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, e := range log {
		lo, hi = math.Min(lo, e.Loss), math.Max(hi, e.Loss)
		if e.HasEval {
			lo, hi = math.Min(lo, e.EvalLoss), math.Max(hi, e.EvalLoss)
		}
	}
	grey := color.RGBA{0xbb, 0xbb, 0xbb, 0xff}
	black := color.RGBA{0, 0, 0, 0xff}
	x0, y0, x1, y1 := plotMargin, plotMargin, plotW-plotMargin, plotH-plotMargin
	line(img, x0, y1, x1, y1, black) // axes
	line(img, x0, y0, x0, y1, black)
	if len(log) > 0 {
		if hi <= lo {
			hi = lo + 1
		}
		n := log[len(log)-1].Step
		px := func(step int) int { return x0 + int(float64(step)/float64(max(n, 1))*float64(x1-x0)) }
		py := func(v float64) int { return y1 - int((v-lo)/(hi-lo)*float64(y1-y0)) }
		cols := stageColors()
		for i, e := range log {
			if i > 0 && log[i-1].Stage != e.Stage {
				line(img, px(e.Step), y0, px(e.Step), y1, grey)
			}
			if i > 0 {
				p := log[i-1]
				line(img, px(p.Step), py(p.Loss), px(e.Step), py(e.Loss), cols[e.Stage%len(cols)])
			}
			if e.HasEval {
				for dx := -2; dx <= 2; dx++ {
					for dy := -2; dy <= 2; dy++ {
						img.Set(px(e.Step)+dx, py(e.EvalLoss)+dy, black)
					}
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := writeFileSynced(tmp, buf.Bytes()); err != nil {
		return err
	}
	return renameFile(tmp, path)
}

// line draws a straight line (Bresenham).
func line(img *image.RGBA, xa, ya, xb, yb int, c color.RGBA) {
	dx, dy := abs(xb-xa), -abs(yb-ya)
	sx, sy := 1, 1
	if xa > xb {
		sx = -1
	}
	if ya > yb {
		sy = -1
	}
	err := dx + dy
	for {
		img.SetRGBA(xa, ya, c)
		if xa == xb && ya == yb {
			return
		}
		e2 := 2 * err
		if e2 >= dy {
			err += dy
			xa += sx
		}
		if e2 <= dx {
			err += dx
			ya += sy
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
