package graph

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/fovea-ml/fovea/internal/backend"
)

// Row math shared by the forward kernels. Each function is generic over
// the element type and, instantiated with float32, performs exactly the
// operations (and roundings) of the eager backend's row kernels in
// internal/backend/rowkernels.go; parity_test.go proves it.

// softmaxRow replaces x by softmax(x); a row whose maximum is -Inf becomes zeros.
func softmaxRow[F float](x []F) {
	m := F(math.Inf(-1))
	for _, v := range x {
		m = max(m, v)
	}
	if math.IsInf(float64(m), -1) {
		clear(x)
		return
	}
	var sum float64
	for i, v := range x {
		e := math.Exp(float64(v - m))
		x[i] = F(e)
		sum += e
	}
	inv := 1 / sum
	for i := range x {
		x[i] = F(float64(x[i]) * inv)
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

// rmsNormRow: dst = x / sqrt(mean(x²) + eps) · w.
func rmsNormRow[F float](dst, x, w []F, eps F) {
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

// layerNormRow: dst = (x − mean)/sqrt(var + eps)·w + b (b may be nil).
func layerNormRow[F float](dst, x, w, b []F, eps F) {
	mean, r := meanInvStd(x, eps)
	for i, v := range x {
		y := F((float64(v) - mean) * r)
		y *= w[i]
		if b != nil {
			y += b[i]
		}
		dst[i] = y
	}
}

// Activation constants, as in the eager kernels and HF's ACT2FN.
const (
	geluTanhCubic  = 0.044715 // cubic coefficient of the tanh GELU
	quickGELUCoeff = 1.702    // CLIP's quick_gelu sigmoid slope
)

var geluTanhScale = math.Sqrt(2 / math.Pi)

// activate applies act to every element (in place), like backend.ActivateInPlace.
func activate[F float](s []F, act backend.Act) {
	switch act {
	case backend.ActIdentity:
	case backend.ActGELU:
		for i, v := range s {
			x := float64(v)
			s[i] = F(0.5 * x * (1 + math.Erf(x/math.Sqrt2)))
		}
	case backend.ActGELUTanh:
		for i, v := range s {
			x := float64(v)
			s[i] = F(0.5 * x * (1 + math.Tanh(geluTanhScale*(x+geluTanhCubic*x*x*x))))
		}
	case backend.ActQuickGELU:
		for i, v := range s {
			x := float64(v)
			s[i] = F(x / (1 + math.Exp(-quickGELUCoeff*x)))
		}
	case backend.ActSiLU:
		for i, v := range s {
			x := float64(v)
			s[i] = F(x / (1 + math.Exp(-x)))
		}
	case backend.ActReLU:
		for i, v := range s {
			s[i] = max(v, 0)
		}
	case backend.ActTanh:
		for i, v := range s {
			s[i] = F(math.Tanh(float64(v)))
		}
	case backend.ActSigmoid:
		for i, v := range s {
			s[i] = F(1 / (1 + math.Exp(-float64(v))))
		}
	default:
		panic(fmt.Sprintf("graph: unknown activation %d", act))
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
	if is64(out) {
		softmaxFwd(buf[float64](out), data[float64](in[0]), lastDim(in[0]))
	} else {
		softmaxFwd(buf[float32](out), data[float32](in[0]), lastDim(in[0]))
	}
}
func softmaxFwd[F float](y, x []F, d int) {
	copy(y, x)
	for r := 0; r+d <= len(y); r += d {
		softmaxRow(y[r : r+d])
	}
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

type actK struct{ act backend.Act }

func (k actK) name() string { return fmt.Sprintf("Activation{%d}", int(k.act)) }
func (actK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	return in[0].Clone(), nil
}
func (actK) diffWRT() []bool { return []bool{true} }
func (k actK) forward(out float64Or32, in []gorgonia.Value) {
	if is64(out) {
		y := buf[float64](out)
		copy(y, data[float64](in[0]))
		activate(y, k.act)
	} else {
		y := buf[float32](out)
		copy(y, data[float32](in[0]))
		activate(y, k.act)
	}
}
func (k actK) backward(_ int, dx float64Or32, in []gorgonia.Value, _, dy gorgonia.Value) {
	if is64(dx) {
		actBwd(buf[float64](dx), data[float64](in[0]), data[float64](dy), k.act)
	} else {
		actBwd(buf[float32](dx), data[float32](in[0]), data[float32](dy), k.act)
	}
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
