package blas

import "math"

// Reference twins of the vector kernels, computed in float64 with the math
// package and rounded once: the test oracles.

// SoftmaxRef is the reference twin of Softmax.
func SoftmaxRef(x []float32) {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, float64(v))
	}
	if math.IsInf(m, -1) {
		clear(x)
		return
	}
	e := make([]float64, len(x))
	var s float64
	for i, v := range x {
		e[i] = math.Exp(float64(v) - m)
		s += e[i]
	}
	for i := range x {
		x[i] = float32(e[i] / s)
	}
}

// RMSNormRef is the reference twin of RMSNorm.
func RMSNormRef(dst, x, w []float32, eps float32) {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	inv := 1 / math.Sqrt(ss/float64(len(x))+float64(eps))
	for i, v := range x {
		y := float64(v) * inv
		if w != nil {
			y *= float64(w[i])
		}
		dst[i] = float32(y)
	}
}

// LayerNormRef is the reference twin of LayerNorm.
func LayerNormRef(dst, x, w, b []float32, eps float32) {
	n := float64(len(x))
	var mean float64
	for _, v := range x {
		mean += float64(v)
	}
	mean /= n
	var variance float64
	for _, v := range x {
		d := float64(v) - mean
		variance += d * d
	}
	variance /= n
	inv := 1 / math.Sqrt(variance+float64(eps))
	for i, v := range x {
		y := (float64(v) - mean) * inv
		if w != nil {
			y *= float64(w[i])
		}
		if b != nil {
			y += float64(b[i])
		}
		dst[i] = float32(y)
	}
}

func sigmoidRef(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// SiLURef is the reference twin of SiLU.
func SiLURef(x []float32) {
	for i, v := range x {
		x[i] = float32(float64(v) * sigmoidRef(float64(v)))
	}
}

// GELURef is the reference twin of GELU (exact erf).
func GELURef(x []float32) {
	for i, v := range x {
		x[i] = float32(0.5 * float64(v) * math.Erfc(-float64(v)/math.Sqrt2))
	}
}

// GELUTanhRef is the reference twin of GELUTanh.
func GELUTanhRef(x []float32) {
	for i, v := range x {
		f := float64(v)
		x[i] = float32(0.5 * f * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(f+geluTanhK*f*f*f))))
	}
}

// QuickGELURef is the reference twin of QuickGELU.
func QuickGELURef(x []float32) {
	for i, v := range x {
		x[i] = float32(float64(v) * sigmoidRef(quickGELUK*float64(v)))
	}
}
