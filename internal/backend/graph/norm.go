package graph

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/fovea-ml/fovea/internal/blas"
)

// ---- RMSNorm: inputs x [..., D], w [D] ----

type rmsNormK struct {
	eps float32
	th  *budget
}

func (k rmsNormK) name() string { return fmt.Sprintf("RMSNorm{%x}", math.Float32bits(k.eps)) }
func (rmsNormK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	return normShape(in)
}
func (rmsNormK) diffWRT() []bool { return []bool{true, true} }
func (k rmsNormK) forward(out float64Or32, in []gorgonia.Value) {
	if is64(out) {
		w, eps := data[float64](in[1]), float64(k.eps)
		eachRow(buf[float64](out), data[float64](in[0]), len(w), func(dst, src []float64) {
			rmsNormRowRef(dst, src, w, eps)
		})
		return
	}
	w := data[float32](in[1])
	y, x := buf[float32](out), data[float32](in[0])
	d := len(w)
	rows := len(x) / d
	blas.ParallelItems(rowBlocks(rows), k.th.workers(rowBlocks(rows)), func(_, it int) {
		for r := it * normRows; r < min(rows, (it+1)*normRows); r++ {
			blas.RMSNorm(y[r*d:(r+1)*d], x[r*d:(r+1)*d], w, k.eps) // the eager kernel
		}
	})
}

// normRows is the number of rows of one parallel task of the norms.
const normRows = 16

func rowBlocks(rows int) int { return (rows + normRows - 1) / normRows }

func (k rmsNormK) backward(i int, dx float64Or32, in []gorgonia.Value, _, dy gorgonia.Value) {
	if is64(dx) {
		rmsNormBwd(i, buf[float64](dx), data[float64](in[0]), data[float64](in[1]), data[float64](dy), float64(k.eps))
	} else {
		rmsNormBwd32(k.th, i, buf[float32](dx), data[float32](in[0]), data[float32](in[1]), data[float32](dy), k.eps)
	}
}

// rmsNormBwd32 is rmsNormBwd in float32 on blas's dot kernel, rows in
// parallel (per-task partial sums of dw added in task order, so the
// result does not depend on scheduling); the per-row scalars stay in
// float64.
func rmsNormBwd32(th *budget, which int, out, x, w, dy []float32, eps float32) {
	d := len(w)
	rows := len(x) / d
	tasks := rowBlocks(rows)
	var part []float32
	if which == 1 {
		part = make([]float32, tasks*d)
	}
	blas.ParallelItems(tasks, th.workers(tasks), func(_, it int) {
		var wg []float32
		if which == 0 {
			wg = make([]float32, d)
		}
		for r := it * normRows; r < min(rows, (it+1)*normRows); r++ {
			xr, gr := x[r*d:(r+1)*d], dy[r*d:(r+1)*d]
			inv := 1 / math.Sqrt(float64(blas.Sdot(d, xr, xr))/float64(d)+float64(eps))
			if which == 1 {
				acc, s := part[it*d:(it+1)*d], float32(inv)
				for j, g := range gr {
					acc[j] += g * xr[j] * s
				}
				continue
			}
			for j, g := range gr {
				wg[j] = w[j] * g
			}
			c := float32(inv * inv * inv * float64(blas.Sdot(d, wg, xr)) / float64(d))
			o, s := out[r*d:(r+1)*d], float32(inv)
			for j, v := range wg {
				o[j] = s*v - xr[j]*c
			}
		}
	})
	if which == 1 {
		clear(out[:d])
		for it := 0; it < tasks; it++ {
			blas.Saxpy(d, 1, part[it*d:(it+1)*d], out[:d])
		}
	}
}

// rmsNormBwd with y = w·x·r, r = (mean(x²)+eps)^(-½):
// dx = r·(w⊙dy) − x·r³/D·Σ(w⊙dy⊙x); dw = Σ_rows dy⊙x·r.
func rmsNormBwd[F float](which int, out, x, w, dy []F, eps F) {
	d := len(w)
	var dw []float64
	if which == 1 {
		dw = make([]float64, d)
	}
	for r := 0; r+d <= len(x); r += d {
		xr, gr := x[r:r+d], dy[r:r+d]
		inv := float64(rmsInv(xr, eps))
		if which == 1 {
			for j := range dw {
				dw[j] += float64(gr[j]) * float64(xr[j]) * inv
			}
			continue
		}
		var dot float64
		for j := range xr {
			dot += float64(w[j]) * float64(gr[j]) * float64(xr[j])
		}
		c := inv * inv * inv * dot / float64(d)
		for j := range xr {
			out[r+j] = F(inv*float64(w[j])*float64(gr[j]) - float64(xr[j])*c)
		}
	}
	for j, v := range dw {
		out[j] = F(v)
	}
}

// normShape checks x [..., D] against 1-D parameters [D].
func normShape(in []tensor.Shape) (tensor.Shape, error) {
	x := in[0]
	if len(x) == 0 {
		return nil, fmt.Errorf("norm of a scalar")
	}
	d := x[len(x)-1]
	for _, p := range in[1:] {
		if tensor.Shape(p).TotalSize() != d || len(p) != 1 {
			return nil, fmt.Errorf("x %v with parameter %v", x, p)
		}
	}
	return x.Clone(), nil
}

// ---- LayerNorm: inputs x [..., D], w [D], optional b [D] ----

type layerNormK struct {
	eps     float32
	hasBias bool
}

func (k layerNormK) name() string {
	return fmt.Sprintf("LayerNorm{%x,%v}", math.Float32bits(k.eps), k.hasBias)
}
func (layerNormK) outShape(in []tensor.Shape) (tensor.Shape, error) { return normShape(in) }
func (k layerNormK) diffWRT() []bool {
	if k.hasBias {
		return []bool{true, true, true}
	}
	return []bool{true, true}
}
func (k layerNormK) forward(out float64Or32, in []gorgonia.Value) {
	if is64(out) {
		w, b := normParams[float64](in)
		eps := float64(k.eps)
		eachRow(buf[float64](out), data[float64](in[0]), len(w), func(dst, src []float64) {
			layerNormRowRef(dst, src, w, b, eps)
		})
		return
	}
	w, b := normParams[float32](in)
	eachRow(buf[float32](out), data[float32](in[0]), len(w), func(dst, src []float32) {
		blas.LayerNorm(dst, src, w, b, k.eps) // the eager kernel
	})
}

// normParams returns a LayerNorm's weight and bias (nil without one).
func normParams[F float](in []gorgonia.Value) (w, b []F) {
	if len(in) > 2 {
		b = data[F](in[2])
	}
	return data[F](in[1]), b
}
func (k layerNormK) backward(i int, dx float64Or32, in []gorgonia.Value, _, dy gorgonia.Value) {
	if is64(dx) {
		layerNormBwd(i, buf[float64](dx), data[float64](in[0]), data[float64](in[1]), data[float64](dy), float64(k.eps))
	} else {
		layerNormBwd(i, buf[float32](dx), data[float32](in[0]), data[float32](in[1]), data[float32](dy), k.eps)
	}
}

// layerNormBwd with x̂ = (x−mean)·r, y = x̂⊙w + b:
// dx = r·(g − mean(g) − x̂·mean(g⊙x̂)), g = dy⊙w; dw = Σ dy⊙x̂; db = Σ dy.
func layerNormBwd[F float](which int, out, x, w, dy []F, eps F) {
	d := len(w)
	acc := make([]float64, d)
	xh := make([]float64, d)
	for r := 0; r+d <= len(x); r += d {
		xr, gr := x[r:r+d], dy[r:r+d]
		mean, inv := meanInvStd(xr, eps)
		for j := range xh {
			xh[j] = (float64(xr[j]) - mean) * inv
		}
		switch which {
		case 1:
			for j := range acc {
				acc[j] += float64(gr[j]) * xh[j]
			}
		case 2:
			for j := range acc {
				acc[j] += float64(gr[j])
			}
		default:
			var mg, mgx float64
			for j := range xh {
				g := float64(gr[j]) * float64(w[j])
				mg += g
				mgx += g * xh[j]
			}
			mg /= float64(d)
			mgx /= float64(d)
			for j := range xh {
				g := float64(gr[j]) * float64(w[j])
				out[r+j] = F(inv * (g - mg - xh[j]*mgx))
			}
		}
	}
	if which > 0 {
		for j, v := range acc {
			out[j] = F(v)
		}
	}
}
