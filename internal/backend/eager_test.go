package backend_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea/internal/backend"
	ft "github.com/fovea-ml/fovea/internal/tensor"
)

// Every Eager op is compared with a plain float64 reference written here.
// Sizes are odd on purpose.

const tol = 1e-5 // float32 kernel vs float64 reference, absolute, for O(1) values

var eg = backend.Eager{}

func randT(rng *rand.Rand, scale float32, shape ...int) *ft.Tensor {
	t := ft.New(shape...)
	for i := range t.Data {
		t.Data[i] = (2*rng.Float32() - 1) * scale
	}
	return t
}

func f64(t *ft.Tensor) []float64 {
	out := make([]float64, len(t.Data))
	for i, v := range t.Data {
		out[i] = float64(v)
	}
	return out
}

// requireClose checks shape and every element within atol + rtol·|want|.
func requireClose(t *testing.T, wantShape []int, want []float64, got backend.Value, atol, rtol float64) {
	t.Helper()
	g := backend.T(got)
	require.Equal(t, wantShape, g.Shape)
	require.Len(t, g.Data, len(want))
	for i, w := range want {
		d := math.Abs(w - float64(g.Data[i]))
		require.LessOrEqualf(t, d, atol+rtol*math.Abs(w), "element %d: want %g got %g", i, w, g.Data[i])
	}
}

// strides of a row-major shape.
func stridesOf(shape []int) []int {
	st := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = s
		s *= shape[i]
	}
	return st
}

// unravel turns a flat index into a multi-index of shape.
func unravel(i int, shape []int) []int {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		idx[d] = i % shape[d]
		i /= shape[d]
	}
	return idx
}

func TestMatMulAndLinear(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, transB := range []bool{false, true} {
		batch := []int{2, 3}
		m, k, n := 5, 7, 3
		a := randT(rng, 1, 2, 3, m, k)
		bShape := []int{2, 3, k, n}
		if transB {
			bShape = []int{2, 3, n, k}
		}
		b := randT(rng, 1, bShape...)
		want := make([]float64, 6*m*n)
		for bi := 0; bi < 6; bi++ {
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					var s float64
					for p := 0; p < k; p++ {
						bv := b.Data[bi*k*n+p*n+j]
						if transB {
							bv = b.Data[bi*n*k+j*k+p]
						}
						s += float64(a.Data[bi*m*k+i*k+p]) * float64(bv)
					}
					want[bi*m*n+i*n+j] = s
				}
			}
		}
		requireClose(t, append(batch, m, n), want, eg.MatMul(a, b, transB), tol, 0)
	}

	x := randT(rng, 1, 2, 3, 5) // [B, T, In]
	w := randT(rng, 1, 7, 5)    // [Out, In]
	bias := randT(rng, 1, 7)
	for _, withBias := range []bool{false, true} {
		want := make([]float64, 6*7)
		for r := 0; r < 6; r++ {
			for o := 0; o < 7; o++ {
				var s float64
				for i := 0; i < 5; i++ {
					s += float64(x.Data[r*5+i]) * float64(w.Data[o*5+i])
				}
				if withBias {
					s += float64(bias.Data[o])
				}
				want[r*7+o] = s
			}
		}
		var bv backend.Value
		if withBias {
			bv = bias
		}
		requireClose(t, []int{2, 3, 7}, want, eg.Linear(x, w, bv), tol, 0)
	}
	require.Panics(t, func() { eg.Linear(x, randT(rng, 1, 7, 4), nil) })
	require.Panics(t, func() { eg.MatMul(randT(rng, 1, 2, 3), randT(rng, 1, 4, 2), false) })
}

// refBroadcast computes a ⊕ b with NumPy broadcasting from multi-indices.
func refBroadcast(a, b *ft.Tensor, op func(x, y float64) float64) ([]int, []float64) {
	n := max(a.Dims(), b.Dims())
	out := make([]int, n)
	dim := func(s []int, i int) int {
		if j := len(s) - n + i; j >= 0 {
			return s[j]
		}
		return 1
	}
	for i := range out {
		out[i] = max(dim(a.Shape, i), dim(b.Shape, i))
	}
	at, bt := stridesOf(a.Shape), stridesOf(b.Shape)
	offset := func(idx, s, st []int) int {
		o := 0
		for j := range s {
			i := idx[n-len(s)+j]
			if s[j] == 1 {
				i = 0
			}
			o += i * st[j]
		}
		return o
	}
	vals := make([]float64, ft.Numel(out))
	for i := range vals {
		idx := unravel(i, out)
		vals[i] = op(float64(a.Data[offset(idx, a.Shape, at)]), float64(b.Data[offset(idx, b.Shape, bt)]))
	}
	return out, vals
}

func TestAddMulBroadcast(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	pairs := [][2][]int{
		{{2, 3, 5}, {2, 3, 5}},
		{{2, 3, 1}, {2, 3, 5}}, // [B,T,1]×[B,T,D]
		{{2, 3, 5}, {2, 3, 1}},
		{{2, 3, 5}, {1}}, // scalar
		{{1}, {3, 5}},
		{{2, 3, 5}, {5}}, // bias
		{{3, 1, 5}, {4, 1}},
		{{2, 1, 3, 1, 3}, {5, 1, 7, 1}},
		{{1, 1, 4, 3}, {2, 3, 1, 1}},
	}
	add := func(x, y float64) float64 { return x + y }
	mul := func(x, y float64) float64 { return x * y }
	for _, p := range pairs {
		a, b := randT(rng, 2, p[0]...), randT(rng, 2, p[1]...)
		shape, want := refBroadcast(a, b, add)
		requireClose(t, shape, want, eg.Add(a, b), tol, 0)
		shape, want = refBroadcast(a, b, mul)
		requireClose(t, shape, want, eg.Mul(a, b), tol, 0)
	}
	require.Panics(t, func() { eg.Add(ft.New(2, 3), ft.New(4)) })
	s := eg.Scale(ft.FromData([]float32{1, -2, 3}, 3), -0.5)
	requireClose(t, []int{3}, []float64{-0.5, 1, -1.5}, s, 0, 0)
}

func TestTransposeAllPerms(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	x := randT(rng, 1, 2, 3, 5, 4)
	perms := [][]int{{0, 1, 2, 3}, {0, 2, 1, 3}, {3, 2, 1, 0}, {1, 3, 0, 2}, {2, 0, 3, 1}, {0, 1, 3, 2}}
	st := stridesOf(x.Shape)
	for _, perm := range perms {
		out := make([]int, 4)
		for i, p := range perm {
			out[i] = x.Shape[p]
		}
		want := make([]float64, x.Len())
		for i := range want {
			idx := unravel(i, out)
			src := 0
			for d, p := range perm {
				src += idx[d] * st[p]
			}
			want[i] = float64(x.Data[src])
		}
		requireClose(t, out, want, eg.Transpose(x, perm...), 0, 0)
	}
	x3 := randT(rng, 1, 3, 1, 5)
	requireClose(t, []int{5, 3, 1}, refT3(x3), eg.Transpose(x3, 2, 0, 1), 0, 0)
	require.Panics(t, func() { eg.Transpose(x, 0, 0, 1, 2) })
}

// refT3 transposes [a, 1, c] to [c, a, 1] by hand.
func refT3(x *ft.Tensor) []float64 {
	a, c := x.Shape[0], x.Shape[2]
	out := make([]float64, 0, a*c)
	for k := 0; k < c; k++ {
		for i := 0; i < a; i++ {
			out = append(out, float64(x.Data[i*c+k]))
		}
	}
	return out
}

func TestSliceConcatEveryAxis(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	x := randT(rng, 1, 3, 5, 7)
	for axis := 0; axis < 3; axis++ {
		n := x.Shape[axis]
		parts := []backend.Value{eg.Slice(x, axis, 0, 1), eg.Slice(x, axis, 1, n-1), eg.Slice(x, axis, n-1, n)}
		// Slice vs reference.
		sl := backend.T(parts[1])
		want := []float64{}
		for i := 0; i < x.Len(); i++ {
			idx := unravel(i, x.Shape)
			if idx[axis] >= 1 && idx[axis] < n-1 {
				want = append(want, float64(x.Data[i]))
			}
		}
		shape := append([]int(nil), x.Shape...)
		shape[axis] = n - 2
		requireClose(t, shape, want, sl, 0, 0)
		// Concat of the pieces restores x.
		requireClose(t, x.Shape, f64(x), eg.Concat(axis, parts...), 0, 0)
	}
	neg := eg.Slice(x, -1, 2, 4)
	require.Equal(t, []int{3, 5, 2}, backend.T(neg).Shape)
	require.Panics(t, func() { eg.Slice(x, 1, 3, 6) })
	require.Panics(t, func() { eg.Concat(0, ft.New(1, 2), ft.New(1, 3)) })
}

func TestEmbedding(t *testing.T) {
	table := ft.FromData([]float32{0, 1, 10, 11, 20, 21}, 3, 2)
	requireClose(t, []int{4, 2}, []float64{20, 21, 0, 1, 20, 21, 10, 11}, eg.Embedding(table, []int{2, 0, 2, 1}), 0, 0)
	require.Panics(t, func() { eg.Embedding(table, []int{3}) })
}

func TestNorms(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	x := randT(rng, 3, 2, 3, 13)
	w, b := randT(rng, 1, 13), randT(rng, 1, 13)
	const eps = 1e-5
	rms := make([]float64, x.Len())
	ln := make([]float64, x.Len())
	lnNoBias := make([]float64, x.Len())
	for r := 0; r < 6; r++ {
		row := f64(x)[r*13 : (r+1)*13]
		var ss, mean float64
		for _, v := range row {
			ss += v * v
			mean += v
		}
		mean /= 13
		var vr float64
		for _, v := range row {
			vr += (v - mean) * (v - mean)
		}
		vr /= 13
		for j, v := range row {
			rms[r*13+j] = v / math.Sqrt(ss/13+eps) * float64(w.Data[j])
			xh := (v - mean) / math.Sqrt(vr+eps)
			lnNoBias[r*13+j] = xh * float64(w.Data[j])
			ln[r*13+j] = lnNoBias[r*13+j] + float64(b.Data[j])
		}
	}
	requireClose(t, x.Shape, rms, eg.RMSNorm(x, w, eps), tol, 0)
	requireClose(t, x.Shape, ln, eg.LayerNorm(x, w, b, eps), tol, 0)
	requireClose(t, x.Shape, lnNoBias, eg.LayerNorm(x, w, nil, eps), tol, 0)
}

func TestActivations(t *testing.T) {
	sig := func(z float64) float64 { return 1 / (1 + math.Exp(-z)) }
	refs := map[backend.Act]func(float64) float64{
		backend.ActIdentity:  func(x float64) float64 { return x },
		backend.ActGELU:      func(x float64) float64 { return x * 0.5 * math.Erfc(-x/math.Sqrt2) },
		backend.ActGELUTanh:  func(x float64) float64 { return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x))) },
		backend.ActQuickGELU: func(x float64) float64 { return x * sig(1.702*x) },
		backend.ActSiLU:      func(x float64) float64 { return x * sig(x) },
		backend.ActReLU:      func(x float64) float64 { return math.Max(x, 0) },
		backend.ActTanh:      math.Tanh,
		backend.ActSigmoid:   sig,
	}
	rng := rand.New(rand.NewPCG(6, 6))
	x := randT(rng, 6, 3, 1031) // large enough to take the parallel path
	x.Data[0], x.Data[1], x.Data[2] = 0, -30, 30
	for act, ref := range refs {
		want := make([]float64, x.Len())
		for i, v := range x.Data {
			want[i] = ref(float64(v))
		}
		before := x.Clone()
		requireClose(t, x.Shape, want, eg.Activation(x, act), 1e-6, 1e-6)
		require.Equal(t, before.Data, x.Data, "%v modified its input", act)
	}
	for name, act := range map[string]backend.Act{"gelu": backend.ActGELU, "gelu_pytorch_tanh": backend.ActGELUTanh,
		"quick_gelu": backend.ActQuickGELU, "silu": backend.ActSiLU, "swish": backend.ActSiLU} {
		got, err := backend.ParseAct(name)
		require.NoError(t, err)
		require.Equal(t, act, got)
	}
	_, err := backend.ParseAct("mish")
	require.ErrorContains(t, err, `unsupported activation "mish"`)
}

func TestSoftmaxStability(t *testing.T) {
	inf := float32(math.Inf(-1))
	x := ft.FromData([]float32{
		0, 0, 0, // uniform
		1000, 999, 998, // huge values: naive exp overflows
		-1e4, 0, 1e4,
		3, inf, inf, // masked but one live entry
		inf, inf, inf, // fully masked → zeros
	}, 5, 3)
	e := []float64{1, math.Exp(-1), math.Exp(-2)}
	s := e[0] + e[1] + e[2]
	third := 1.0 / 3
	want := []float64{third, third, third, e[0] / s, e[1] / s, e[2] / s, 0, 0, 1, 1, 0, 0, 0, 0, 0}
	got := eg.Softmax(x)
	requireClose(t, []int{5, 3}, want, got, 1e-7, 1e-6)
	for _, v := range backend.T(got).Data {
		require.False(t, math.IsNaN(float64(v)))
	}
}

func TestBroadcastShapeRule(t *testing.T) {
	out, err := backend.BroadcastShape([]int{2, 1, 5}, []int{3, 1})
	require.NoError(t, err)
	require.Equal(t, []int{2, 3, 5}, out)
	require.Equal(t, []int{5, 0, 1}, backend.BroadcastStrides([]int{2, 1, 5}, out))
	require.Equal(t, []int{0, 1, 0}, backend.BroadcastStrides([]int{3, 1}, out))
	_, err = backend.BroadcastShape([]int{2, 3}, []int{4})
	require.ErrorContains(t, err, "cannot broadcast [2 3] with [4]")
}
