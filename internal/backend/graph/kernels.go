package graph

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/blas"
)

// Forward math. A float32 graph (training) calls exactly the kernels
// backend.Eager calls — internal/blas's Softmax, RMSNorm, LayerNorm and
// backend.ActivateInPlace (blas's GELU, GELUTanh, QuickGELU, SiLU) — so
// the two backends give bit-identical results for these ops. A float64
// graph (gradient checks only) runs the generic reference forms below,
// named …Ref: the same formulas evaluated in F. TestFloat64MatchesEager
// checks that both paths compute the same function. The backward passes
// are generic and used by both element types.

// eachRow calls fn(dst, src) on every d-wide row of y and x.
func eachRow[F float](y, x []F, d int, fn func(dst, src []F)) {
	for r := 0; r+d <= len(x); r += d {
		fn(y[r:r+d], x[r:r+d])
	}
}

// softmaxRowRef replaces x by softmax(x) (max-subtracted, in F); a row
// whose maximum is −Inf becomes zeros, as blas.Softmax.
func softmaxRowRef[F float](x []F) {
	m := F(math.Inf(-1))
	for _, v := range x {
		m = max(m, v)
	}
	if math.IsInf(float64(m), -1) {
		clear(x)
		return
	}
	var sum F
	for i, v := range x {
		e := F(math.Exp(float64(v - m)))
		x[i] = e
		sum += e
	}
	for i := range x {
		x[i] /= sum
	}
}

// rmsInv is 1/sqrt(mean(x²) + eps), accumulated in F like HF.
func rmsInv[F float](x []F, eps F) F {
	var ss F
	for _, v := range x {
		ss += v * v
	}
	return F(1 / math.Sqrt(float64(ss/F(len(x))+eps)))
}

// rmsNormRowRef: dst = x / sqrt(mean(x²) + eps) · w, as blas.RMSNorm.
func rmsNormRowRef[F float](dst, x, w []F, eps F) {
	r := rmsInv(x, eps)
	for i, v := range x {
		dst[i] = w[i] * (v * r)
	}
}

// meanInvStd returns the mean of x and 1/sqrt(var + eps) (biased variance), in float64.
func meanInvStd[F float](x []F, eps F) (mean, r float64) {
	for _, v := range x {
		mean += float64(v)
	}
	mean /= float64(len(x))
	var vr float64
	for _, v := range x {
		d := float64(v) - mean
		vr += d * d
	}
	vr /= float64(len(x))
	return mean, 1 / math.Sqrt(vr+float64(eps))
}

// layerNormRowRef: dst = (x − mean)/sqrt(var + eps)·w + b (b may be nil),
// as blas.LayerNorm.
func layerNormRowRef[F float](dst, x, w, b []F, eps F) {
	mean, r := meanInvStd(x, eps)
	for i, v := range x {
		y := F((float64(v)-mean)*r) * w[i]
		if b != nil {
			y += b[i]
		}
		dst[i] = y
	}
}

// Activation constants, as in internal/blas and HF's ACT2FN.
const (
	geluTanhCubic  = 0.044715 // cubic coefficient of the tanh GELU
	quickGELUCoeff = 1.702    // CLIP's quick_gelu sigmoid slope
	// geluTanhScale is √(2/π), the tanh GELU's inner scale (a constant,
	// not a package variable: math.Sqrt is not constant-foldable).
	geluTanhScale = 0.79788456080286535587989211986876373695171726232986931533185165934131585179
)

// activateRef applies act to every element of s in F: the reference
// form of backend.ActivateInPlace.
func activateRef[F float](s []F, act backend.Act) {
	sigmoid := func(z float64) float64 { return 1 / (1 + math.Exp(-z)) }
	var f func(x float64) float64
	switch act {
	case backend.ActIdentity:
		return
	case backend.ActGELU:
		f = func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }
	case backend.ActGELUTanh:
		f = func(x float64) float64 { return 0.5 * x * (1 + math.Tanh(geluTanhScale*(x+geluTanhCubic*x*x*x))) }
	case backend.ActQuickGELU:
		f = func(x float64) float64 { return x * sigmoid(quickGELUCoeff*x) }
	case backend.ActSiLU:
		f = func(x float64) float64 { return x * sigmoid(x) }
	case backend.ActReLU:
		f = func(x float64) float64 { return max(x, 0) }
	case backend.ActTanh:
		f = math.Tanh
	case backend.ActSigmoid:
		f = sigmoid
	default:
		panic(fmt.Sprintf("graph: unknown activation %d", act))
	}
	for i, v := range s {
		s[i] = F(f(float64(v)))
	}
}

// activationDeriv is d act(x) / dx, in float64.
func activationDeriv(x float64, act backend.Act) float64 {
	sigmoid := func(z float64) float64 { return 1 / (1 + math.Exp(-z)) }
	switch act {
	case backend.ActIdentity:
		return 1
	case backend.ActGELU:
		cdf := 0.5 * (1 + math.Erf(x/math.Sqrt2))
		pdf := math.Exp(-0.5*x*x) / math.Sqrt(2*math.Pi)
		return cdf + x*pdf
	case backend.ActGELUTanh:
		t := math.Tanh(geluTanhScale * (x + geluTanhCubic*x*x*x))
		return 0.5*(1+t) + 0.5*x*(1-t*t)*geluTanhScale*(1+3*geluTanhCubic*x*x)
	case backend.ActQuickGELU:
		s := sigmoid(quickGELUCoeff * x)
		return s + quickGELUCoeff*x*s*(1-s)
	case backend.ActSiLU:
		s := sigmoid(x)
		return s * (1 + x*(1-s))
	case backend.ActReLU:
		if x > 0 {
			return 1
		}
		return 0
	case backend.ActTanh:
		t := math.Tanh(x)
		return 1 - t*t
	case backend.ActSigmoid:
		s := sigmoid(x)
		return s * (1 - s)
	}
	panic(fmt.Sprintf("graph: unknown activation %d", act))
}

// ---- softmax over the last axis ----

type softmaxK struct{}

func (softmaxK) name() string { return "Softmax" }
func (softmaxK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	if len(in[0]) == 0 || in[0][len(in[0])-1] == 0 {
		return nil, fmt.Errorf("softmax of shape %v", in[0])
	}
	return in[0].Clone(), nil
}
func (softmaxK) diffWRT() []bool { return []bool{true} }
func (k softmaxK) forward(out float64Or32, in []gorgonia.Value) {
	d := lastDim(in[0])
	if is64(out) {
		eachRow(buf[float64](out), data[float64](in[0]), d, func(dst, src []float64) {
			copy(dst, src)
			softmaxRowRef(dst)
		})
		return
	}
	eachRow(buf[float32](out), data[float32](in[0]), d, func(dst, src []float32) {
		copy(dst, src)
		blas.Softmax(dst) // the eager kernel
	})
}
func (k softmaxK) backward(_ int, dx float64Or32, _ []gorgonia.Value, y, dy gorgonia.Value) {
	if is64(dx) {
		softmaxBwd(buf[float64](dx), data[float64](y), data[float64](dy), lastDim(y))
	} else {
		softmaxBwd(buf[float32](dx), data[float32](y), data[float32](dy), lastDim(y))
	}
}

// softmaxBwd: dx = y ⊙ (dy − Σ dy·y) per row.
func softmaxBwd[F float](dx, y, dy []F, d int) {
	for r := 0; r+d <= len(y); r += d {
		var dot float64
		for j := r; j < r+d; j++ {
			dot += float64(dy[j]) * float64(y[j])
		}
		for j := r; j < r+d; j++ {
			dx[j] = F(float64(y[j]) * (float64(dy[j]) - dot))
		}
	}
}

func lastDim(v gorgonia.Value) int {
	s := v.Shape()
	return s[len(s)-1]
}

// ---- activations ----

type actK struct {
	act backend.Act
	th  *budget
}

func (k actK) name() string { return fmt.Sprintf("Activation{%d}", int(k.act)) }
func (actK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	return in[0].Clone(), nil
}
func (actK) diffWRT() []bool { return []bool{true} }
func (k actK) forward(out float64Or32, in []gorgonia.Value) {
	if is64(out) {
		y := buf[float64](out)
		copy(y, data[float64](in[0]))
		activateRef(y, k.act)
		return
	}
	y := buf[float32](out)
	copy(y, data[float32](in[0]))
	backend.ActivateInPlace(y, k.act) // the eager kernel
}
func (k actK) backward(_ int, dx float64Or32, in []gorgonia.Value, _, dy gorgonia.Value) {
	if is64(dx) {
		actBwd(buf[float64](dx), data[float64](in[0]), data[float64](dy), k.act)
		return
	}
	d, x, g := buf[float32](dx), data[float32](in[0]), data[float32](dy)
	eachChunk(k.th, len(d), func(lo, hi int) { actGrad32(d[lo:hi], x[lo:hi], g[lo:hi], nil, k.act) })
}
func actBwd[F float](dx, x, dy []F, act backend.Act) {
	for i, v := range x {
		dx[i] = F(float64(dy[i]) * activationDeriv(float64(v), act))
	}
}

// ---- scale ----

type scaleK struct{ s float32 }

func (k scaleK) name() string { return fmt.Sprintf("Scale{%x}", math.Float32bits(k.s)) }
func (scaleK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	return in[0].Clone(), nil
}
func (scaleK) diffWRT() []bool { return []bool{true} }
func (k scaleK) forward(out float64Or32, in []gorgonia.Value) {
	if is64(out) {
		scaleFwd(buf[float64](out), data[float64](in[0]), float64(k.s))
	} else {
		scaleFwd(buf[float32](out), data[float32](in[0]), k.s)
	}
}
func (k scaleK) backward(_ int, dx float64Or32, _ []gorgonia.Value, _, dy gorgonia.Value) {
	k.forward(dx, []gorgonia.Value{dy})
}
func scaleFwd[F float](y, x []F, s F) {
	for i, v := range x {
		y[i] = v * s
	}
}
