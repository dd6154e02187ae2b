package backend

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea/internal/tensor"
)

// Fast eager ops against their plain twins (rowkernels_test.go,
// ops_ref_test.go) on odd sizes, including sizes large enough to be split
// across goroutines.

func scaledTensor(rng *rand.Rand, scale float32, shape ...int) *tensor.Tensor {
	t := randTensor(rng, shape...)
	for i := range t.Data {
		t.Data[i] *= scale
	}
	return t
}

func TestSoftmaxFastMatchesRef(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, shape := range [][]int{{3, 1}, {5, 257}, {2, 3, 1031}, {300, 301}} {
		x := scaledTensor(rng, 20, shape...)
		d := shape[len(shape)-1]
		for j := 0; j < d; j++ {
			x.Data[j] = float32(math.Inf(-1)) // row 0 fully masked
		}
		got := softmaxFast(x)
		for r := 0; r < x.Len()/d; r++ {
			want := append([]float32(nil), x.Data[r*d:(r+1)*d]...)
			softmaxRow(want)
			for j, w := range want {
				require.InDeltaf(t, w, got.Data[r*d+j], 1e-6, "shape %v row %d col %d", shape, r, j)
			}
		}
		for j := 0; j < d; j++ {
			require.Zero(t, got.Data[j])
		}
	}
}

func TestNormsFastMatchRef(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 1))
	for _, shape := range [][]int{{7, 33}, {3, 2, 577}, {256, 576}} {
		d := shape[len(shape)-1]
		x := scaledTensor(rng, 3, shape...)
		for j := range x.Data[:d] {
			x.Data[j] += 100 // a row with a large mean
		}
		w, b := scaledTensor(rng, 2, d), scaledTensor(rng, 1, d)
		rms := rmsNormFast(x, w, 1e-5)
		lnB := layerNormFast(x, w, b.Data, 1e-5)
		ln := layerNormFast(x, w, nil, 1e-6)
		want := make([]float32, d)
		// Row 0 sits at mean 100: float32 statistics lose ~1e-5 there.
		const tol = 5e-5
		for r := 0; r < x.Len()/d; r++ {
			xr := x.Data[r*d : (r+1)*d]
			rmsNormRow(want, xr, w.Data, 1e-5)
			for j := range want {
				require.InDeltaf(t, want[j], rms.Data[r*d+j], tol, "rms %v row %d", shape, r)
			}
			layerNormRow(want, xr, w.Data, b.Data, 1e-5)
			for j := range want {
				require.InDeltaf(t, want[j], lnB.Data[r*d+j], tol, "layernorm %v row %d", shape, r)
			}
			layerNormRow(want, xr, w.Data, nil, 1e-6)
			for j := range want {
				require.InDeltaf(t, want[j], ln.Data[r*d+j], tol, "layernorm no bias %v row %d", shape, r)
			}
		}
	}
}

func TestActivationFastMatchesRef(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 1))
	x := scaledTensor(rng, 8, 3, 10007) // [-8, 8], several chunks
	x.Data[0], x.Data[1], x.Data[2] = 0, -30, 30
	refs := map[Act]func(float32) float64{
		ActIdentity: func(v float32) float64 { return float64(v) },
		ActReLU:     func(v float32) float64 { return math.Max(float64(v), 0) },
		ActTanh:     func(v float32) float64 { return math.Tanh(float64(v)) },
		ActSigmoid:  func(v float32) float64 { return 1 / (1 + math.Exp(-float64(v))) },
	}
	twins := map[Act]func([]float32){ActGELU: gelu, ActGELUTanh: geluTanh, ActQuickGELU: quickGELU, ActSiLU: silu}
	for act := ActIdentity; act <= ActSigmoid; act++ {
		t.Run(act.String(), func(t *testing.T) {
			want := make([]float64, x.Len())
			if f, ok := refs[act]; ok {
				for i, v := range x.Data {
					want[i] = f(v)
				}
			} else {
				w := append([]float32(nil), x.Data...)
				twins[act](w)
				for i, v := range w {
					want[i] = float64(v)
				}
			}
			got := activationFast(x, act)
			require.Equal(t, x.Shape, got.Shape)
			for i, w := range want {
				require.InDeltaf(t, w, got.Data[i], 2e-6*math.Max(1, math.Abs(w)), "x=%g", x.Data[i])
			}
		})
	}
}

func TestBinaryFastMatchesRef(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 1))
	pairs := [][2][]int{
		{{300, 700}, {300, 700}},
		{{2, 197, 768}, {768}},
		{{768}, {2, 197, 768}},
		{{2, 197, 768}, {197, 768}},
		{{3, 1, 5}, {5}},
		{{2, 3, 1}, {1, 3, 4}},
		{{4, 1}, {3}},
		{{1, 5}, {2, 1, 5}},
		{{2, 7, 3}, {7, 1}},
		{{}, {4}},
	}
	ops := []struct {
		op  binOp
		ref func(x, y float32) float32
	}{{binAdd, func(x, y float32) float32 { return x + y }}, {binMul, func(x, y float32) float32 { return x * y }}}
	for _, pr := range pairs {
		a, b := randTensor(rng, pr[0]...), randTensor(rng, pr[1]...)
		for _, o := range ops {
			want := binaryRef(a, b, o.ref)
			got := binaryFast(a, b, o.op)
			require.Equalf(t, want.Shape, got.Shape, "%v op%d %v", pr[0], o.op, pr[1])
			require.Equalf(t, want.Data, got.Data, "%v op%d %v", pr[0], o.op, pr[1])
		}
	}
}

func TestTransposeFastMatchesRef(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 1))
	check := func(shape, perm []int) {
		x := randTensor(rng, shape...)
		want := transposeRef(x, perm)
		got := transposeFast(x, perm)
		require.Equalf(t, want.Shape, got.Shape, "shape %v perm %v", shape, perm)
		require.Equalf(t, want.Data, got.Data, "shape %v perm %v", shape, perm)
	}
	check([]int{1, 197, 12, 64}, []int{0, 2, 1, 3})
	check([]int{2, 9, 256, 64}, []int{0, 2, 1, 3})
	check([]int{1, 3, 14, 16, 14, 16}, []int{0, 2, 4, 1, 3, 5})
	check([]int{300, 301}, []int{1, 0})
	check([]int{5}, []int{0})
	check([]int{1, 1, 1}, []int{2, 0, 1})
	check([]int{0, 3}, []int{1, 0})
	for trial := 0; trial < 200; trial++ {
		nd := 1 + rng.IntN(6)
		shape := make([]int, nd)
		for i := range shape {
			shape[i] = 1 + rng.IntN(5)
		}
		check(shape, rng.Perm(nd))
	}
}

func TestRoPEFastMatchesRef(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 1))
	for _, tc := range []struct {
		shape []int
		theta float64
	}{{[]int{2, 3, 37, 16}, 10000}, {[]int{1, 9, 256, 64}, 100000}, {[]int{1, 2, 1, 6}, 500000}} {
		t.Run(fmt.Sprint(tc.shape), func(t *testing.T) {
			r, err := NewRoPE(tc.shape[3], tc.theta, nil)
			require.NoError(t, err)
			pos := make([]int, tc.shape[2])
			for i := range pos {
				pos[i] = 3*i + rng.IntN(3) + 1000*(i%2)
			}
			x := randTensor(rng, tc.shape...)
			want := ropeRef(x, pos, r)
			got := ropeFast(x, pos, r)
			require.Equal(t, want.Shape, got.Shape)
			for i := range want.Data {
				require.InDelta(t, want.Data[i], got.Data[i], 1e-6)
			}
		})
	}
}

func TestTransposeBlockedPaths(t *testing.T) {
	// Shapes whose collapsed form ends in a plain 2-d transpose: one large
	// block (rows split across cores) and many blocks.
	rng := rand.New(rand.NewPCG(7, 1))
	for _, tc := range []struct{ shape, perm []int }{
		{[]int{513, 257}, []int{1, 0}},
		{[]int{6, 65, 33}, []int{0, 2, 1}},
		{[]int{3, 4, 17, 19}, []int{1, 0, 3, 2}},
		{[]int{2, 1, 40, 1, 50}, []int{0, 4, 3, 1, 2}},
	} {
		x := randTensor(rng, tc.shape...)
		require.Equal(t, transposeRef(x, tc.perm), transposeFast(x, tc.perm), "shape %v perm %v", tc.shape, tc.perm)
	}
}
