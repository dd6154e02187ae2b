package quant

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/stretchr/testify/require"
)

// randTensor fills a tensor with N(0, std) values from a seeded source.
func randTensor(rng *rand.Rand, std float64, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64() * std)
	}
	return t
}

// kernelShapes covers odd Out, odd and even block counts, m = 1 and m > 1,
// and sizes above the threading threshold.
var kernelShapes = []struct{ out, in, m int }{
	{1, 32, 1}, {7, 64, 1}, {33, 96, 3}, {65, 576, 1}, {3, 160, 5},
	{129, 1536, 2}, {577, 576, 1}, {1001, 288, 4}, {31, 32, 7},
	{4, 64, 1}, {9, 96, 1}, {33, 96, 12}, {577, 576, 9}, {70, 1536, 17},
	{5, 1056, 1}, {3, 544, 2}, {2, 512, 3}, // 33, 17, 16 blocks: chunks of 16 and odd ends
}

func TestQ8KernelsMatchRef(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range kernelShapes {
		w := randTensor(rng, 0.05, s.out, s.in)
		x := randTensor(rng, 1, s.m, s.in)
		q, err := QuantizeQ8_0(w)
		require.NoError(t, err)
		want := make([]float32, s.m*s.out)
		q.MatMulTRef(want, x.Data, s.m)
		// Scale of the terms summed per output, for a relative tolerance.
		deq := q.Dequantize()
		for _, l := range SupportedLevels() {
			got := make([]float32, s.m*s.out)
			for i := range got {
				got[i] = float32(math.NaN()) // must be overwritten
			}
			q.matMulT(kernelFor(l), got, x.Data, s.m)
			for i := 0; i < s.m; i++ {
				for r := 0; r < s.out; r++ {
					var mag float64
					for j := 0; j < s.in; j++ {
						mag += math.Abs(float64(deq.Data[r*s.in+j]) * float64(x.Data[i*s.in+j]))
					}
					require.InDelta(t, want[i*s.out+r], got[i*s.out+r], 1e-5*mag+1e-7,
						"level %v shape %+v y[%d,%d]", l, s, i, r)
				}
			}
		}
	}
}

// TestQ8ErrorBound checks the quantized product against a float64 product
// of the original weights: per block, |Δw| ≤ dw/2 and |Δx| ≤ dx/2, so
// |Δy| ≤ Σ |x|·dw/2 + |w|·dx/2 + dw·dx/4 (plus float32 rounding).
func TestQ8ErrorBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const out, in, m = 67, 576, 3
	w := randTensor(rng, 0.05, out, in)
	x := randTensor(rng, 1, m, in)
	q, err := QuantizeQ8_0(w)
	require.NoError(t, err)
	got := make([]float32, m*out)
	q.MatMulT(got, x.Data, m)
	blockAmax := func(v []float32) float64 {
		var a float64
		for _, f := range v {
			a = math.Max(a, math.Abs(float64(f)))
		}
		return a
	}
	var worstRatio float64
	for i := 0; i < m; i++ {
		xr := x.Data[i*in : (i+1)*in]
		for r := 0; r < out; r++ {
			wr := w.Data[r*in : (r+1)*in]
			var exact, bound, mag float64
			for b := 0; b < in/BlockSize; b++ {
				wb, xb := wr[b*BlockSize:(b+1)*BlockSize], xr[b*BlockSize:(b+1)*BlockSize]
				dw, dx := blockAmax(wb)/q8Max, blockAmax(xb)/q8Max
				for j := range wb {
					exact += float64(wb[j]) * float64(xb[j])
					mag += math.Abs(float64(wb[j]) * float64(xb[j]))
					bound += math.Abs(float64(xb[j]))*dw/2 + math.Abs(float64(wb[j]))*dx/2 + dw*dx/4
				}
			}
			diff := math.Abs(float64(got[i*out+r]) - exact)
			require.LessOrEqual(t, diff, bound+1e-5*mag, "y[%d,%d]", i, r)
			worstRatio = math.Max(worstRatio, diff/bound)
		}
	}
	t.Logf("worst |Δy| / bound = %.3f", worstRatio)
}

func TestQuantizeRowAndDequantize(t *testing.T) {
	w := tensor.New(2, 64)
	for j := range 64 {
		w.Data[j] = float32(j-32) / 10 // block 0 max |w| 3.2, block 1 max 3.1
	}
	// Row 1 stays zero: an all-zero block has scale 0 and decodes to 0.
	q, err := QuantizeQ8_0(w)
	require.NoError(t, err)
	out, in := q.Dims()
	require.Equal(t, 2, out)
	require.Equal(t, 64, in)
	require.Equal(t, 2*64+4*2*2, q.Bytes())
	row := make([]float32, 64)
	q.Row(0, row)
	for j, v := range row {
		d := 3.2 / 127
		if j >= BlockSize {
			d = 3.1 / 127
		}
		require.InDelta(t, w.Data[j], v, d/2+1e-7, "w[0,%d]", j)
	}
	require.InDelta(t, -3.2, row[0], 1e-6) // the block maximum is exact
	q.Row(1, row)
	require.Equal(t, make([]float32, 64), row)
}

func TestQuantizeErrors(t *testing.T) {
	_, err := QuantizeQ8_0(nil)
	require.ErrorContains(t, err, "nil")
	_, err = QuantizeQ8_0(tensor.New(64))
	require.ErrorContains(t, err, "2-D")
	_, err = QuantizeQ8_0(tensor.New(4, 48))
	require.ErrorContains(t, err, "multiple of 32")
	bad := tensor.New(2, 32)
	bad.Data[37] = float32(math.Inf(1))
	_, err = QuantizeQ8_0(bad)
	require.ErrorContains(t, err, "[1, 5]")
}

func TestMatMulTPanicsOnShortSlices(t *testing.T) {
	q, err := QuantizeQ8_0(tensor.New(3, 32))
	require.NoError(t, err)
	require.PanicsWithValue(t,
		"quant.Q8Matrix.MatMulT: W [3 32], m=2: x has 32 (need 64), y has 6 (need 6)",
		func() { q.MatMulT(make([]float32, 6), make([]float32, 32), 2) })
}

// TestMatMulTGroup checks the grouped product against one MatMulT per
// matrix (the same kernels on the same quantized activations: equal bit
// for bit) on every level, decode-sized and prefill row counts, and that
// a member of another kind makes it decline.
func TestMatMulTGroup(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	const in = 96
	var ms []*Q8Matrix
	var group []backend.PreparedMatrix
	for _, out := range []int{40, 7, 129} {
		q, err := QuantizeQ8_0(randTensor(r, 1, out, in))
		require.NoError(t, err)
		ms = append(ms, q)
		group = append(group, q)
	}
	for _, l := range SupportedLevels() {
		k := kernelFor(l)
		for _, m := range []int{1, 3, maxInt8M, maxInt8M + 5} {
			x := randTensor(r, 1, m, in).Data
			ys := make([][]float32, len(ms))
			for g, q := range ms {
				ys[g] = make([]float32, m*q.out)
			}
			ms[0].matMulTGroup(k, ys, x, m, ms)
			for g, q := range ms {
				want := make([]float32, m*q.out)
				q.matMulT(k, want, x, m)
				require.Equal(t, want, ys[g], "%v m=%d matrix %d", l, m, g)
			}
		}
	}
	ys := [][]float32{make([]float32, 40), make([]float32, 7), make([]float32, 129)}
	require.True(t, ms[0].MatMulTGroup(ys, randTensor(r, 1, 1, in).Data, 1, group))
	other, err := QuantizeQ8_0(randTensor(r, 1, 5, 2*in)) // another In
	require.NoError(t, err)
	require.False(t, ms[0].MatMulTGroup(ys[:2], randTensor(r, 1, 1, in).Data, 1, []backend.PreparedMatrix{ms[0], other}))
}
