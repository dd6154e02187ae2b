package blas

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAdamWLevels: every level's AdamW against the float64 reference over
// lengths with and without a tail, three steps, clipping scale included.
func TestAdamWLevels(t *testing.T) {
	c := &AdamWCoef{Decay: 1 - 1e-4, B1: 0.9, C1: 0.1, B2: 0.999, C2: 1e-3, LR: 1e-3 / 0.1, RBC2: float32(1 / math.Sqrt(1e-3)), Eps: 1e-8, GScale: 0.7}
	for _, l := range SupportedLevels() {
		im, err := ForLevel(l)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{1, 7, 8, 9, 64, 1029} {
			rng := rand.New(rand.NewPCG(uint64(n), 1))
			w, m, v := make([]float32, n), make([]float32, n), make([]float32, n)
			for i := range w {
				w[i] = float32(rng.NormFloat64())
			}
			wr, mr, vr := append([]float32(nil), w...), make([]float32, n), make([]float32, n)
			for step := 0; step < 3; step++ {
				g := make([]float32, n)
				for i := range g {
					g[i] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(6)-4)))
				}
				im.AdamW(w, g, m, v, c)
				AdamWRef(wr, g, mr, vr, c)
			}
			for i := range w {
				for _, p := range [][2]float32{{w[i], wr[i]}, {m[i], mr[i]}, {v[i], vr[i]}} {
					if d := math.Abs(float64(p[0] - p[1])); d > 1e-6*max(1, math.Abs(float64(p[1]))) {
						t.Fatalf("%v n=%d element %d: got %g, reference %g", l, n, i, p[0], p[1])
					}
				}
			}
		}
	}
}

// TestAdamWAsmMatchesGo: the assembly performs adamWGo's operations in
// its order, so the two agree bit for bit where the compiler does not fuse
// multiply-adds (GOAMD64 < v3).
func TestAdamWAsmMatchesGo(t *testing.T) {
	c := &AdamWCoef{Decay: 0.999, B1: 0.9, C1: 0.1, B2: 0.999, C2: 1e-3, LR: 0.01, RBC2: 3, Eps: 1e-8, GScale: 1}
	rng := rand.New(rand.NewPCG(3, 3))
	const n = 203
	mk := func() []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(rng.NormFloat64())
		}
		return s
	}
	w, g, m, v := mk(), mk(), mk(), mk()
	for i := range v {
		v[i] *= v[i]
	}
	w2, m2, v2 := append([]float32(nil), w...), append([]float32(nil), m...), append([]float32(nil), v...)
	Default().AdamW(w, g, m, v, c)
	adamWGo(w2, g, m2, v2, c)
	for i := range w {
		if math.Abs(float64(w[i]-w2[i])) > 1e-6*max(1, math.Abs(float64(w2[i]))) {
			t.Fatalf("element %d: %g vs Go twin %g", i, w[i], w2[i])
		}
	}
}
