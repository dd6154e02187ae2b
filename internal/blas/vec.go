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
	m := im.Max(x)
	if math.IsInf(float64(m), -1) {
		clear(x)
		return
	}
	s := im.expSub(x, m)
	Scale(1/s, x)
}

// Max returns the largest element of x (−Inf for an empty slice). NaNs
// are ignored (all NaN gives −Inf).
func Max(x []float32) float32 { return defaultImpl.Max(x) }

// Max is the package-level Max on im's kernels.
func (im *Impl) Max(x []float32) float32 { return im.vmax(x) }

// maxGo is the portable Max and the twin of the assembly one.
func maxGo(x []float32) float32 {
	var m [vecUnroll]float32
	for i := range m {
		m[i] = float32(math.Inf(-1))
	}
	i := 0
	for ; i+vecUnroll <= len(x); i += vecUnroll {
		v := x[i : i+vecUnroll : i+vecUnroll]
		for j, e := range v {
			if e > m[j] {
				m[j] = e
			}
		}
	}
	for ; i < len(x); i++ {
		if x[i] > m[0] {
			m[0] = x[i]
		}
	}
	return max(max(m[0], m[1]), max(m[2], m[3]))
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

// sumSquares returns Σ x[i]² with vecUnroll partial sums (twin of
// sumSqAVX2).
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

// sumSqDevGo returns Σ (x[i] − c)² (twin of sumSqDevAVX2).
func sumSqDevGo(x []float32, c float32) float32 {
	var s [vecUnroll]float32
	i := 0
	for ; i+vecUnroll <= len(x); i += vecUnroll {
		v := x[i : i+vecUnroll : i+vecUnroll]
		d0, d1, d2, d3 := v[0]-c, v[1]-c, v[2]-c, v[3]-c
		s[0] += d0 * d0
		s[1] += d1 * d1
		s[2] += d2 * d2
		s[3] += d3 * d3
	}
	for ; i < len(x); i++ {
		d := x[i] - c
		s[0] += d * d
	}
	return (s[0] + s[1]) + (s[2] + s[3])
}

// sum returns Σ x[i] (twin of sumAVX2).
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

// rmsApplyGo writes dst = x·s·w (twin of rmsApplyAVX2).
func rmsApplyGo(dst, x, w []float32, s float32) {
	w, dst = w[:len(x)], dst[:len(x)]
	for i, v := range x {
		dst[i] = v * s * w[i]
	}
}

// lnApplyGo writes dst = (x − c)·s·w + b (twin of lnApplyAVX2).
func lnApplyGo(dst, x, w, b []float32, c, s float32) {
	w, b, dst = w[:len(x)], b[:len(x)], dst[:len(x)]
	for i, v := range x {
		dst[i] = (v-c)*s*w[i] + b[i]
	}
}

func checkNorm(name string, dst, x, w, b []float32) {
	if len(dst) != len(x) || (w != nil && len(w) != len(x)) || (b != nil && len(b) != len(x)) {
		panic(fmt.Sprintf("blas.%s: lengths differ: dst %d, x %d, w %d, b %d", name, len(dst), len(x), len(w), len(b)))
	}
}

// RMSNorm writes dst[i] = x[i] / √(mean(x²) + eps) · w[i] (Llama's
// RMSNorm; w == nil means all ones). dst may alias x.
func RMSNorm(dst, x, w []float32, eps float32) { defaultImpl.RMSNorm(dst, x, w, eps) }

// RMSNorm is the package-level RMSNorm on im's kernels.
func (im *Impl) RMSNorm(dst, x, w []float32, eps float32) {
	checkNorm("RMSNorm", dst, x, w, nil)
	if len(x) == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(float64(im.sumSq(x)/float32(len(x))+eps)))
	if w == nil {
		for i, v := range x {
			dst[i] = v * inv
		}
		return
	}
	im.rmsApply(dst, x, w, inv)
}

// LayerNorm writes dst[i] = (x[i] − mean) / √(var + eps) · w[i] + b[i]
// with the biased variance (two passes, so no cancellation). w == nil
// means ones, b == nil zeros. dst may alias x.
func LayerNorm(dst, x, w, b []float32, eps float32) { defaultImpl.LayerNorm(dst, x, w, b, eps) }

// LayerNorm is the package-level LayerNorm on im's kernels.
func (im *Impl) LayerNorm(dst, x, w, b []float32, eps float32) {
	checkNorm("LayerNorm", dst, x, w, b)
	n := len(x)
	if n == 0 {
		return
	}
	mean := im.sum(x) / float32(n)
	variance := im.sumSqDev(x, mean) / float32(n)
	inv := float32(1 / math.Sqrt(float64(variance+eps)))
	if w != nil && b != nil {
		im.lnApply(dst, x, w, b, mean, inv)
		return
	}
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

// SiLUGrad is the backward pass of SwiGLU's silu(g)·u: given dy it writes
// du = dy·silu(g) = dy·g·σ(g) and dg = dy·u·σ(g)·(1 + g·(1 − σ(g))), with
// σ(g) = 1/(1 + e^{−g}) from the vector exp (as ExpSub). All slices have
// len(g) elements.
func SiLUGrad(dg, du, g, u, dy []float32) { defaultImpl.siluGrad(dg, du, g, u, dy) }

// SiLUGrad is the package-level SiLUGrad on im's kernels.
func (im *Impl) SiLUGrad(dg, du, g, u, dy []float32) { im.siluGrad(dg, du, g, u, dy) }

// siluGradGo is the portable SiLUGrad, twin of the assembly one.
func siluGradGo(dg, du, g, u, dy []float32) { siluGradWith(expSubGo, dg, du, g, u, dy) }

// siluGradWith is SiLUGrad with e^{−g} from expSub: e^{−g} goes through
// dg, then one pass computes both gradients.
func siluGradWith(expSub func([]float32, float32) float32, dg, du, g, u, dy []float32) {
	n := len(g)
	dg, du, u, dy = dg[:n], du[:n], u[:n], dy[:n] // one bounds check each
	for j, v := range g {
		dg[j] = -v
	}
	expSub(dg, 0) // e^−g (0 below the float32 range, finite above)
	for j, v := range g {
		s := 1 / (1 + dg[j])
		gy := dy[j]
		du[j] = gy * v * s
		dg[j] = gy * u[j] * s * (1 + v*(1-s))
	}
}

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

// RotateHalf applies rotary position embedding to one head with the
// default kernels; see Impl.RotateHalf.
func RotateHalf(dst, x, cos, sin []float32) { defaultImpl.RotateHalf(dst, x, cos, sin) }

// RotateHalf is HF's apply_rotary_pos_emb on one head of 2h values in the
// rotate_half convention: with h = len(cos) = len(sin), x0 = x[:h] and
// x1 = x[h:2h], dst[:h] = x0·cos − x1·sin and dst[h:2h] = x1·cos + x0·sin.
// dst may be x. Every level rounds the same way (two products, then one
// sum, no FMA), so the result is identical across levels.
func (im *Impl) RotateHalf(dst, x, cos, sin []float32) { im.rotateHalf(dst, x, cos, sin) }

// checkRotate panics with the lengths when a slice is too short.
func checkRotate(dst, x, cos, sin []float32) {
	h := len(cos)
	if len(sin) < h || len(x) < 2*h || len(dst) < 2*h {
		panic(fmt.Sprintf("blas.RotateHalf: cos %d, sin %d, x %d, dst %d (need sin ≥ %d, x and dst ≥ %d)", h, len(sin), len(x), len(dst), h, 2*h))
	}
}

// rotateHalfGo is the portable RotateHalf and the twin of the assembly.
func rotateHalfGo(dst, x, cos, sin []float32) {
	checkRotate(dst, x, cos, sin)
	rotateHalfTail(dst, x, cos, sin, 0)
}

// rotateHalfTail rotates the pairs [from, h). The explicit conversions
// round each product (the Go spec lets a compiler fuse x*y+z otherwise).
func rotateHalfTail(dst, x, cos, sin []float32, from int) {
	h := len(cos)
	x0, x1 := x[:h], x[h:2*h]
	d0, d1 := dst[:h], dst[h:2*h]
	sin = sin[:h]
	for i := from; i < h; i++ {
		a, b, c, s := x0[i], x1[i], cos[i], sin[i]
		d0[i] = float32(a*c) - float32(b*s)
		d1[i] = float32(b*c) + float32(a*s)
	}
}
