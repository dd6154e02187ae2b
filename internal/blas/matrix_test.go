package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPackedMatrix checks MatMulT (small-m and blocked paths) against
// SgemmRef with transB, and Row against W, on every level.
func TestPackedMatrix(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, im := range allImpls(t) {
		for _, threads := range []int{1, 2} {
			im := im.WithThreads(threads)
			for _, s := range [][2]int{{1, 1}, {5, 3}, {33, 17}, {97, 300}, {1537, 576}, {64, 1536}} {
				out, in := s[0], s[1]
				w := randSlice(r, out*in)
				pm, err := im.NewPackedMatrix(w, out, in)
				require.NoError(t, err)
				o, i := pm.Dims()
				require.Equal(t, [2]int{out, in}, [2]int{o, i})
				require.Equal(t, im.Level(), pm.Level())
				for _, m := range []int{1, 2, 5, 6, 7, 8, 9, 13, 30} {
					x := randSlice(r, m*in)
					want := make([]float32, m*out)
					SgemmRef(false, true, m, out, in, 1, x, in, w, in, 0, want, out)
					got := make([]float32, m*out)
					for j := range got {
						got[j] = float32(math.NaN())
					}
					pm.MatMulT(got, x, m)
					require.LessOrEqual(t, maxAbsDiff(t, got, want), gemmTol(in), "%v t%d W[%d %d] m=%d", im.Level(), threads, out, in, m)
				}
				row := make([]float32, in)
				for _, ri := range []int{0, out / 2, out - 1} {
					pm.Row(ri, row)
					require.Equal(t, w[ri*in:(ri+1)*in], row)
				}
			}
		}
	}
}

func TestPackedMatrixErrors(t *testing.T) {
	_, err := NewPackedMatrix(make([]float32, 5), 2, 3)
	require.EqualError(t, err, "blas: packed matrix [2 3] needs 6 floats, got 5")
	_, err = NewPackedMatrix(nil, -1, 3)
	require.ErrorContains(t, err, "negative")
	pm, err := NewPackedMatrix(make([]float32, 6), 2, 3)
	require.NoError(t, err)
	require.Panics(t, func() { pm.MatMulT(make([]float32, 2), make([]float32, 2), 1) })
	require.Panics(t, func() { pm.Row(2, make([]float32, 3)) })
	empty, err := NewPackedMatrix(nil, 2, 0)
	require.NoError(t, err)
	y := []float32{1, 2}
	empty.MatMulT(y, nil, 1)
	require.Equal(t, []float32{0, 0}, y)
}

// decodeShapes are SmolLM2-135M's decode-step weights [Out, In].
var decodeShapes = [][2]int{{576, 576}, {192, 576}, {1536, 576}, {576, 1536}, {49152, 576}}

// BenchmarkPackedMatrixSmallM times the small-m path against the
// row-major Sgemv tiles (the plain decode kernel) for m = 1 and 4.
func BenchmarkPackedMatrixSmallM(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 3))
	for _, s := range decodeShapes {
		out, in := s[0], s[1]
		w := randSlice(r, out*in)
		pm, err := NewPackedMatrix(w, out, in)
		require.NoError(b, err)
		for _, m := range []int{1, 4} {
			x, y := randSlice(r, m*in), make([]float32, m*out)
			bytes := float64(out * in * floatBytes)
			b.Run(fmt.Sprintf("%dx%d/m%d/packed", out, in, m), func(b *testing.B) {
				for b.Loop() {
					pm.MatMulT(y, x, m)
				}
				b.ReportMetric(bytes*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
			})
			b.Run(fmt.Sprintf("%dx%d/m%d/rowmajor", out, in, m), func(b *testing.B) {
				for b.Loop() {
					for i := 0; i < m; i++ {
						Sgemv(false, out, in, 1, w, in, x[i*in:], 0, y[i*out:])
					}
				}
				b.ReportMetric(bytes*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
			})
		}
	}
}
