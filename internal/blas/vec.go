package blas

import (
	"fmt"
	"math"
)

// Constants of the activation functions (HF transformers' definitions).
const (
	// sqrt1_2 is 1/√2: GELU(x) = x·Φ(x) = ½·x·erfc(−x/√2).
	sqrt1_2 = 0.70710678118654752440
	// geluTanhC is √(2/π) and geluTanhK the cubic coefficient of the tanh
	// approximation ("gelu_pytorch_tanh", "gelu_new").
	geluTanhC = 0.79788456080286535588
	geluTanhK = 0.044715
	// quickGELUK is the sigmoid slope of CLIP's quick_gelu.
	quickGELUK = 1.702
	// vecUnroll is the number of independent partial sums in reductions.
	vecUnroll = 4
)

// Softmax replaces x with exp(x − max x) / Σ exp(x − max x). A row whose
// entries are all −Inf (a fully masked row) becomes all zeros, not NaN.
// An empty slice is left alone.
func Softmax(x []float32) { defaultImpl.Softmax(x) }

// Softmax is the package-level Softmax on im's kernels.
func (im *Impl) Softmax(x []float32) {
	if len(x) == 0 {
		return
	}
	m := Max(x)
	if math.IsInf(float64(m), -1) {
		clear(x)
		return
	}
	s := im.expSub(x, m)
	Scale(1/s, x)
}

// Max returns the largest element of x (−Inf for an empty slice). NaNs
// are ignored unless every element is NaN.
func Max(x []float32) float32 {
	m0, m1 := float32(math.Inf(-1)), float32(math.Inf(-1))
	i := 0
	for ; i+2 <= len(x); i += 2 {
		if x[i] > m0 {
			m0 = x[i]
		}
		if x[i+1] > m1 {
			m1 = x[i+1]
		}
	}
	if i < len(x) && x[i] > m0 {
		m0 = x[i]
	}
	return max(m0, m1)
}

// ExpSub replaces x[i] with exp(x[i] − m) and returns the sum of the new
// values: the inner step of softmax and of online (streaming) softmax.
func ExpSub(x []float32, m float32) float32 { return defaultImpl.expSub(x, m) }

// expSubGo is the portable ExpSub and the twin of the assembly one.
func expSubGo(x []float32, m float32) float32 {
	var s [vecUnroll]float32
	i := 0
	for ; i+vecUnroll <= len(x); i += vecUnroll {
		v := x[i : i+vecUnroll : i+vecUnroll]
		v[0] = expf(v[0] - m)
		v[1] = expf(v[1] - m)
		v[2] = expf(v[2] - m)
		v[3] = expf(v[3] - m)
		s[0] += v[0]
		s[1] += v[1]
		s[2] += v[2]
		s[3] += v[3]
	}
	for ; i < len(x); i++ {
		x[i] = expf(x[i] - m)
		s[0] += x[i]
	}
	return (s[0] + s[1]) + (s[2] + s[3])
}

// Scale multiplies x by alpha in place.
func Scale(alpha float32, x []float32) {
	for i := range x {
		x[i] *= alpha
	}
}

// sumSquares returns Σ x[i]² with vecUnroll partial sums.
func sumSquares(x []float32) float32 {
	var s [vecUnroll]float32
	i := 0
	for ; i+vecUnroll <= len(x); i += vecUnroll {
		v := x[i : i+vecUnroll : i+vecUnroll]
		s[0] += v[0] * v[0]
		s[1] += v[1] * v[1]
		s[2] += v[2] * v[2]
		s[3] += v[3] * v[3]
	}
	for ; i < len(x); i++ {
		s[0] += x[i] * x[i]
	}
	return (s[0] + s[1]) + (s[2] + s[3])
}

func sum(x []float32) float32 {
	var s [vecUnroll]float32
	i := 0
	for ; i+vecUnroll <= len(x); i += vecUnroll {
		v := x[i : i+vecUnroll : i+vecUnroll]
		s[0] += v[0]
		s[1] += v[1]
		s[2] += v[2]
		s[3] += v[3]
	}
	for ; i < len(x); i++ {
		s[0] += x[i]
	}
	return (s[0] + s[1]) + (s[2] + s[3])
}

func checkNorm(name string, dst, x, w, b []float32) {
	if len(dst) != len(x) || (w != nil && len(w) != len(x)) || (b != nil && len(b) != len(x)) {
		panic(fmt.Sprintf("blas.%s: lengths differ: dst %d, x %d, w %d, b %d", name, len(dst), len(x), len(w), len(b)))
	}
}

// RMSNorm writes dst[i] = x[i] / √(mean(x²) + eps) · w[i] (Llama's
// RMSNorm; w == nil means all ones). dst may alias x.
func RMSNorm(dst, x, w []float32, eps float32) {
	checkNorm("RMSNorm", dst, x, w, nil)
	if len(x) == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(float64(sumSquares(x)/float32(len(x))+eps)))
	if w == nil {
		for i, v := range x {
			dst[i] = v * inv
		}
		return
	}
	w = w[:len(x)]
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = v * inv * w[i]
	}
}

// LayerNorm writes dst[i] = (x[i] − mean) / √(var + eps) · w[i] + b[i]
// with the biased variance (two passes, so no cancellation). w == nil
// means ones, b == nil zeros. dst may alias x.
func LayerNorm(dst, x, w, b []float32, eps float32) {
	checkNorm("LayerNorm", dst, x, w, b)
	n := len(x)
	if n == 0 {
		return
	}
	mean := sum(x) / float32(n)
	var s [vecUnroll]float32
	i := 0
	for ; i+vecUnroll <= n; i += vecUnroll {
		v := x[i : i+vecUnroll : i+vecUnroll]
		d0, d1, d2, d3 := v[0]-mean, v[1]-mean, v[2]-mean, v[3]-mean
		s[0] += d0 * d0
		s[1] += d1 * d1
		s[2] += d2 * d2
		s[3] += d3 * d3
	}
	for ; i < n; i++ {
		d := x[i] - mean
		s[0] += d * d
	}
	variance := ((s[0] + s[1]) + (s[2] + s[3])) / float32(n)
	inv := float32(1 / math.Sqrt(float64(variance+eps)))
	dst = dst[:n]
	for i, v := range x {
		y := (v - mean) * inv
		if w != nil {
			y *= w[i]
		}
		if b != nil {
			y += b[i]
		}
		dst[i] = y
	}
}

// SiLU replaces x with x·σ(x) (a.k.a. swish).
func SiLU(x []float32) { defaultImpl.SiLU(x) }

// GELU replaces x with the exact GELU x·Φ(x) = ½·x·erfc(−x/√2).
func GELU(x []float32) { defaultImpl.GELU(x) }

// GELUTanh replaces x with the tanh approximation of GELU,
// ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), computed as x·σ(2u).
func GELUTanh(x []float32) { defaultImpl.GELUTanh(x) }

// QuickGELU replaces x with x·σ(1.702·x) (CLIP's quick_gelu).
func QuickGELU(x []float32) { defaultImpl.QuickGELU(x) }

// SiLU is the package-level SiLU on im's kernels.
func (im *Impl) SiLU(x []float32) { im.sigmoidMul(x, 1) }

// QuickGELU is the package-level QuickGELU on im's kernels.
func (im *Impl) QuickGELU(x []float32) { im.sigmoidMul(x, quickGELUK) }

// GELU is the package-level GELU on im's kernels.
func (im *Impl) GELU(x []float32) { im.gelu(x) }

// GELUTanh is the package-level GELUTanh on im's kernels.
func (im *Impl) GELUTanh(x []float32) { im.geluTanh(x) }

// sigmoidMulGo is x[i] ← x[i]·σ(k·x[i]), twin of the assembly one.
func sigmoidMulGo(x []float32, k float32) {
	for i, v := range x {
		x[i] = v * sigmoidf(k*v)
	}
}

// geluGo is the portable exact GELU, twin of the assembly one.
func geluGo(x []float32) {
	for i, v := range x {
		z := -v * sqrt1_2
		z2 := float64(v) * float64(v) * 0.5
		if z >= 0 {
			x[i] = 0.5 * v * erfcPosSq(z, z2)
		} else {
			x[i] = 0.5 * v * (2 - erfcPosSq(-z, z2))
		}
	}
}

// geluTanhGo is the portable tanh GELU, twin of the assembly one.
func geluTanhGo(x []float32) {
	for i, v := range x {
		u := geluTanhC * (v + geluTanhK*v*v*v)
		x[i] = v * sigmoidf(2*u)
	}
}
