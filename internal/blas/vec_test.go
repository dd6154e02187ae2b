package blas

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// requireClose checks |got−want| ≤ rel·|want| + abs element-wise.
func requireClose(t *testing.T, got, want []float32, rel, abs float64, msg string) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		require.LessOrEqual(t, d, rel*math.Abs(float64(want[i]))+abs, "%s: element %d got %v want %v", msg, i, got[i], want[i])
	}
}

var vecLens = []int{1, 3, 7, 17, 64, 577, 1000}

func scaled(r *rand.Rand, n int, s float32) []float32 {
	x := randSlice(r, n)
	Scale(s, x)
	return x
}

func TestActivationsMatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, im := range allImpls(t) {
		ops := []struct {
			name      string
			fast, ref func([]float32)
		}{
			{"SiLU", im.SiLU, SiLURef},
			{"GELU", im.GELU, GELURef},
			{"GELUTanh", im.GELUTanh, GELUTanhRef},
			{"QuickGELU", im.QuickGELU, QuickGELURef},
		}
		for _, op := range ops {
			for _, n := range vecLens {
				for _, s := range []float32{1, 4, 20, 200} {
					x := scaled(r, n, s)
					want := append([]float32(nil), x...)
					op.ref(want)
					op.fast(x)
					// GELU flushes below ~1e-16 (erfc cut-off) as float32
					// PyTorch does; the assembly flushes e^x below e^-86.
					// The tanh form's float32 argument u rounds by ~6e-8
					// relative and σ(2u) amplifies that by 2|u|.
					rel := 2e-6
					if op.name == "GELUTanh" {
						rel = 1e-5
					}
					requireClose(t, x, want, rel, 1e-15, im.Level().String()+" "+op.name)
				}
			}
		}
	}
}

func TestActivationsKnownValues(t *testing.T) {
	// Φ(1) = 0.8413447460685429 (standard normal CDF tables); σ(1) =
	// 0.7310585786300049; GELU-tanh(1) and quick_gelu(1) from their
	// closed forms evaluated by hand: 0.8411919906082768, 0.8457957659
	// (1/(1+e^−1.702)).
	x := []float32{1, 1, 1, 1, -30, -30}
	GELU(x[0:1])
	SiLU(x[1:2])
	GELUTanh(x[2:3])
	QuickGELU(x[3:4])
	GELU(x[4:5])
	SiLU(x[5:6])
	require.InDelta(t, 0.8413447460685429, x[0], 1e-7)
	require.InDelta(t, 0.7310585786300049, x[1], 1e-7)
	require.InDelta(t, 0.8411919906082768, x[2], 1e-7)
	require.InDelta(t, 0.8457957659, x[3], 1e-7)
	require.Equal(t, float32(0), x[4]*0) // finite, not NaN
	require.InDelta(t, -30*math.Exp(-30), x[5], 1e-18)
	for _, im := range allImpls(t) {
		for _, f := range []func([]float32){im.GELU, im.SiLU, im.GELUTanh, im.QuickGELU, im.Softmax} {
			nan := make([]float32, 19) // NaN in a vector lane and in the tail
			nan[3], nan[17] = float32(math.NaN()), float32(math.NaN())
			f(nan)
			require.True(t, math.IsNaN(float64(nan[3])) && math.IsNaN(float64(nan[17])), "%v: NaN must propagate", im.Level())
		}
	}
}

func TestSoftmax(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, im := range allImpls(t) {
		for _, n := range vecLens {
			for _, s := range []float32{1, 10, 80} {
				x := scaled(r, n, s)
				want := append([]float32(nil), x...)
				SoftmaxRef(want)
				im.Softmax(x)
				requireClose(t, x, want, 2e-6, 1e-9, im.Level().String()+" Softmax")
				var total float64
				for _, v := range x {
					total += float64(v)
				}
				require.InDelta(t, 1, total, 1e-5)
			}
		}
		inf := float32(math.Inf(-1))
		masked := []float32{inf, inf, inf}
		im.Softmax(masked)
		require.Equal(t, []float32{0, 0, 0}, masked)
		part := []float32{inf, 0, inf, 0, inf, 0, inf, 0, inf, 0}
		im.Softmax(part)
		require.Equal(t, []float32{0, 0.2, 0, 0.2, 0, 0.2, 0, 0.2, 0, 0.2}, part)
		big := []float32{1e30, 1e30}
		im.Softmax(big)
		require.Equal(t, []float32{0.5, 0.5}, big)
		im.Softmax(nil)
	}
}

func TestNorms(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, n := range vecLens {
		x := scaled(r, n, 3)
		for i := range x {
			x[i] += 5 // a large mean exercises the two-pass variance
		}
		w, b := randSlice(r, n), randSlice(r, n)
		for _, eps := range []float32{1e-5, 1e-6} {
			got, want := make([]float32, n), make([]float32, n)
			RMSNorm(got, x, w, eps)
			RMSNormRef(want, x, w, eps)
			requireClose(t, got, want, 2e-6, 1e-7, "RMSNorm")
			RMSNorm(got, x, nil, eps)
			RMSNormRef(want, x, nil, eps)
			requireClose(t, got, want, 2e-6, 1e-7, "RMSNorm nil w")
			LayerNorm(got, x, w, b, eps)
			LayerNormRef(want, x, w, b, eps)
			requireClose(t, got, want, 1e-5, 1e-6, "LayerNorm")
			inPlace := append([]float32(nil), x...)
			LayerNorm(inPlace, inPlace, nil, nil, eps)
			LayerNormRef(want, x, nil, nil, eps)
			requireClose(t, inPlace, want, 1e-5, 1e-6, "LayerNorm in place")
		}
	}
	// Hand-computed: x = [1, 2, 3, 4], mean 2.5, var 1.25.
	got := make([]float32, 4)
	LayerNorm(got, []float32{1, 2, 3, 4}, nil, nil, 0)
	requireClose(t, got, []float32{-1.3416408, -0.4472136, 0.4472136, 1.3416408}, 1e-6, 0, "LayerNorm known")
	// rms([3, 4]) = √12.5.
	RMSNorm(got[:2], []float32{3, 4}, []float32{1, 2}, 0)
	requireClose(t, got[:2], []float32{0.8485281, 2.2627417}, 1e-6, 0, "RMSNorm known")
	require.Panics(t, func() { RMSNorm(make([]float32, 3), make([]float32, 4), nil, 0) })
}

func TestMaxAndExpSub(t *testing.T) {
	require.Equal(t, float32(7), Max([]float32{1, 7, -3, 2, 5}))
	require.True(t, math.IsInf(float64(Max(nil)), -1))
	x := []float32{0, 1, 2}
	s := ExpSub(x, 2)
	requireClose(t, x, []float32{float32(math.Exp(-2)), float32(math.Exp(-1)), 1}, 2e-7, 0, "ExpSub")
	require.InDelta(t, math.Exp(-2)+math.Exp(-1)+1, s, 1e-6)
}

func BenchmarkVec(b *testing.B) {
	r := rand.New(rand.NewPCG(17, 18))
	const n = 3072
	x, w, bias, dst := scaled(r, n, 4), randSlice(r, n), randSlice(r, n), make([]float32, n)
	src := append([]float32(nil), x...)
	ops := []struct {
		name string
		f    func()
	}{
		{"Softmax", func() { copy(x, src); Softmax(x) }},
		{"SoftmaxRef", func() { copy(x, src); SoftmaxRef(x) }},
		{"GELU", func() { copy(x, src); GELU(x) }},
		{"GELURef", func() { copy(x, src); GELURef(x) }},
		{"SiLU", func() { copy(x, src); SiLU(x) }},
		{"GELUTanh", func() { copy(x, src); GELUTanh(x) }},
		{"QuickGELU", func() { copy(x, src); QuickGELU(x) }},
		{"RMSNorm", func() { RMSNorm(dst, src, w, 1e-5) }},
		{"LayerNorm", func() { LayerNorm(dst, src, w, bias, 1e-5) }},
	}
	for _, op := range ops {
		b.Run(op.name, func(b *testing.B) {
			for b.Loop() {
				op.f()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
		})
	}
}

// TestVectorExpAccuracy holds every level's ExpSub (the vectorised exp) to
// 1e-6 relative against math.Exp over the range where e^x is normal.
func TestVectorExpAccuracy(t *testing.T) {
	var xs []float32
	for x := float32(-85.9); x <= 88; x += 0.00917 {
		xs = append(xs, x)
	}
	for _, im := range allImpls(t) {
		e := append([]float32(nil), xs...)
		im.expSub(e, 0)
		worst := 0.0
		for i, x := range xs {
			worst = math.Max(worst, relErr(e[i], math.Exp(float64(x))))
		}
		t.Logf("%v: exp worst relative error %.3g", im.Level(), worst)
		require.Less(t, worst, 1e-6, im.Level())
	}
}

// TestVecKernelsMatchTwins compares each level's vector kernels with their
// portable Go twins on lengths that leave a ragged tail.
func TestVecKernelsMatchTwins(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 20))
	for _, im := range allImpls(t) {
		for _, n := range []int{1, 7, 8, 9, 15, 16, 33, 1001} {
			x := scaled(r, n, 6)
			for _, k := range []struct {
				name       string
				fast, twin func([]float32)
				rel        float64
			}{
				{"gelu", im.gelu, geluGo, 1e-6},
				// Argument evaluated as x·(1+kx²) vs x+kx³: see GELUTanh.
				{"geluTanh", im.geluTanh, geluTanhGo, 1e-5},
				{"silu", func(v []float32) { im.sigmoidMul(v, 1) }, func(v []float32) { sigmoidMulGo(v, 1) }, 1e-6},
				{"expSub", func(v []float32) { im.expSub(v, 0.5) }, func(v []float32) { expSubGo(v, 0.5) }, 1e-6},
			} {
				got, want := append([]float32(nil), x...), append([]float32(nil), x...)
				k.fast(got)
				k.twin(want)
				requireClose(t, got, want, k.rel, 1e-30, im.Level().String()+" "+k.name)
			}
		}
	}
}

// TestRotateHalf checks every level's RoPE kernel against rotateHalfGo
// bit for bit (no FMA anywhere) on half widths around the vector width,
// in place too, and the Go twin against the float64 formula.
func TestRotateHalf(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	for _, h := range []int{1, 3, 7, 8, 13, 32, 33, 64} {
		x, cos, sin := randSlice(r, 2*h+3), randSlice(r, h), randSlice(r, h)
		want := make([]float32, 2*h)
		rotateHalfGo(want, x, cos, sin)
		for i := 0; i < h; i++ {
			a, b, c, s := float64(x[i]), float64(x[h+i]), float64(cos[i]), float64(sin[i])
			require.InDelta(t, a*c-b*s, want[i], 1e-6)
			require.InDelta(t, b*c+a*s, want[h+i], 1e-6)
		}
		for _, im := range allImpls(t) {
			got := make([]float32, 2*h)
			im.RotateHalf(got, x, cos, sin)
			require.Equal(t, want, got, "%v h=%d", im.Level(), h)
			in := append([]float32(nil), x[:2*h]...)
			im.RotateHalf(in, in, cos, sin)
			require.Equal(t, want, in, "%v h=%d in place", im.Level(), h)
		}
	}
	require.PanicsWithValue(t, "blas.RotateHalf: cos 4, sin 4, x 7, dst 8 (need sin ≥ 4, x and dst ≥ 8)", func() {
		RotateHalf(make([]float32, 8), make([]float32, 7), make([]float32, 4), make([]float32, 4))
	})
}

// TestSiLUGrad checks every level's SwiGLU backward against its Go twin
// (to the vector exp's rounding) and the Go twin against the float64
// formula, on lengths around the vector width and gates out to ±90
// (e^{−g} clamped, σ exactly 0 or 1).
func TestSiLUGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, n := range []int{1, 7, 8, 9, 16, 33, 1001} {
		g, u, dy := scaled(r, n, 6), scaled(r, n, 2), scaled(r, n, 1)
		g[0] = 90
		if n > 1 {
			g[1] = -90
		}
		ref := func(j int) (dg, du float64) {
			v := float64(g[j])
			s := 1 / (1 + math.Exp(-v))
			return float64(dy[j]) * float64(u[j]) * s * (1 + v*(1-s)), float64(dy[j]) * v * s
		}
		wg, wu := make([]float32, n), make([]float32, n)
		siluGradGo(wg, wu, g, u, dy)
		for j := range n {
			dg, du := ref(j)
			require.InDelta(t, dg, float64(wg[j]), 1e-5*(1+math.Abs(dg)), "twin dg n=%d j=%d", n, j)
			require.InDelta(t, du, float64(wu[j]), 1e-5*(1+math.Abs(du)), "twin du n=%d j=%d", n, j)
		}
		for _, im := range allImpls(t) {
			gg, gu := make([]float32, n), make([]float32, n)
			gin := append([]float32(nil), g...)
			im.SiLUGrad(gg, gu, gin, u, dy)
			require.Equal(t, g, gin, "g is not written")
			// The exps agree to 1e-6; 1 + g·(1 − σ) cancels near g ≈ −1.28,
			// so dg gets an absolute bound too.
			requireClose(t, gg, wg, 1e-5, 1e-7, im.Level().String()+" dg")
			requireClose(t, gu, wu, 1e-6, 1e-30, im.Level().String()+" du")
			// Bit for bit what the same level's ExpSub and the scalar loop
			// give (the assembly rounds each step as Go does).
			sg, su := make([]float32, n), make([]float32, n)
			siluGradWith(im.expSub, sg, su, g, u, dy)
			require.Equal(t, sg, gg, im.Level().String()+" dg bits")
			require.Equal(t, su, gu, im.Level().String()+" du bits")
		}
	}
}
