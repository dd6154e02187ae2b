package blas

import (
	"fmt"
	"math"
)

// AdamWCoef are the per-step constants of one AdamW update in float32
// (graph.AdamW fills them from its hyper-parameters and step count):
//
//	g' = g·GScale
//	m ← B1·m + C1·g';  v ← B2·v + C2·g'²
//	w ← w·Decay − LR·m / (sqrt(v)·RBC2 + Eps)
//
// with C1 = 1−β1, C2 = 1−β2, Decay = 1 − lr·wd, LR = lr/(1−β1ᵗ),
// RBC2 = 1/sqrt(1−β2ᵗ) (torch.optim.AdamW's bias corrections) and GScale
// a gradient-clipping factor (1 without clipping). The field order is
// the assembly's.
type AdamWCoef struct {
	Decay, B1, C1, B2, C2, LR, RBC2, Eps, GScale float32
}

// AdamW applies one update to w with gradient g and moments m, v (all of
// len(w)), in place: an AVX2 loop on whole vectors, adamWGo on the tail
// and at LevelGo. It is memory-bound (four streams in, three out).
func (im *Impl) AdamW(w, g, m, v []float32, c *AdamWCoef) {
	if len(g) < len(w) || len(m) < len(w) || len(v) < len(w) {
		panic(fmt.Sprintf("blas.AdamW: w %d, g %d, m %d, v %d elements", len(w), len(g), len(m), len(v)))
	}
	im.adamw(w, g[:len(w)], m[:len(w)], v[:len(w)], c)
}

// AdamW is Default().AdamW.
func AdamW(w, g, m, v []float32, c *AdamWCoef) { defaultImpl.AdamW(w, g, m, v, c) }

// adamWGo is the portable AdamW update and the twin of the assembly one:
// the same float32 operations in the same order.
func adamWGo(w, g, m, v []float32, c *AdamWCoef) {
	g, m, v = g[:len(w)], m[:len(w)], v[:len(w)]
	for j, x := range w {
		gj := g[j] * c.GScale
		mj := c.B1*m[j] + c.C1*gj
		vj := c.B2*v[j] + c.C2*gj*gj
		m[j], v[j] = mj, vj
		den := float32(math.Sqrt(float64(vj)))*c.RBC2 + c.Eps
		w[j] = x*c.Decay - c.LR*mj/den
	}
}

// AdamWRef is the float64 reference of one AdamW update (the moments
// rounded to float32 between steps): the oracle of AdamW.
func AdamWRef(w, g, m, v []float32, c *AdamWCoef) {
	for j, gj := range g[:len(w)] {
		gv := float64(gj) * float64(c.GScale)
		mj := float64(c.B1)*float64(m[j]) + float64(c.C1)*gv
		vj := float64(c.B2)*float64(v[j]) + float64(c.C2)*gv*gv
		m[j], v[j] = float32(mj), float32(vj)
		w[j] = float32(float64(w[j])*float64(c.Decay) - float64(c.LR)*mj/(math.Sqrt(vj)*float64(c.RBC2)+float64(c.Eps)))
	}
}
