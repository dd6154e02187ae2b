package backend

import "math"

// Reference twins of the eager row kernels (the fast ones call
// internal/blas), plain Go. Accumulations that HF does in
// float32 are done in float32 here too; transcendental functions go
// through float64 and are rounded once.

// softmaxRow replaces x by softmax(x) in place. A row whose maximum is -Inf
// (fully masked) becomes all zeros instead of NaN.
func softmaxRow(x []float32) {
	m := float32(math.Inf(-1))
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
		x[i] = float32(e)
		sum += e
	}
	inv := 1 / sum
	for i := range x {
		x[i] = float32(float64(x[i]) * inv)
	}
}

// rmsNormRow: dst = x / sqrt(mean(x²) + eps) · w.
func rmsNormRow(dst, x, w []float32, eps float32) {
	var ss float32
	for _, v := range x {
		ss += v * v
	}
	r := float32(1 / math.Sqrt(float64(ss/float32(len(x))+eps)))
	for i, v := range x {
		dst[i] = w[i] * (v * r)
	}
}

// layerNormRow: dst = (x − mean)/sqrt(var + eps)·w + b (b may be nil).
func layerNormRow(dst, x, w, b []float32, eps float32) {
	var mean float64
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
	r := 1 / math.Sqrt(vr+float64(eps))
	for i, v := range x {
		y := float32((float64(v) - mean) * r)
		y *= w[i]
		if b != nil {
			y += b[i]
		}
		dst[i] = y
	}
}

// gelu is the exact GELU: x·½(1 + erf(x/√2)).
func gelu(s []float32) {
	for i, v := range s {
		x := float64(v)
		s[i] = float32(0.5 * x * (1 + math.Erf(x/math.Sqrt2)))
	}
}

// geluTanh is GELU's tanh approximation: ½x(1 + tanh(√(2/π)(x + 0.044715x³))).
func geluTanh(s []float32) {
	c := math.Sqrt(2 / math.Pi)
	for i, v := range s {
		x := float64(v)
		s[i] = float32(0.5 * x * (1 + math.Tanh(c*(x+0.044715*x*x*x))))
	}
}

// quickGELUCoeff is CLIP's sigmoid slope in quick_gelu.
const quickGELUCoeff = 1.702

// quickGELU: x·σ(1.702x).
func quickGELU(s []float32) {
	for i, v := range s {
		x := float64(v)
		s[i] = float32(x / (1 + math.Exp(-quickGELUCoeff*x)))
	}
}

// silu: x·σ(x).
func silu(s []float32) {
	for i, v := range s {
		x := float64(v)
		s[i] = float32(x / (1 + math.Exp(-x)))
	}
}
