package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGemvTMatchesRef compares GemvT at every level, single- and
// multi-threaded, with the float64 twin GemvTRef on odd sizes (vector
// tails, ragged row tiles, sizes above the threading threshold).
func TestGemvTMatchesRef(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	shapes := []struct{ out, in, m int }{
		{1, 1, 1}, {5, 3, 2}, {17, 33, 1}, {33, 577, 3}, {1537, 576, 1}, {576, 1536, 8}, {257, 1023, 5}, {100, 7, 0}, {3, 0, 2},
	}
	for _, im := range allImpls(t) {
		for _, threads := range []int{1, 3} {
			imt := im.WithThreads(threads)
			for _, s := range shapes {
				w, x := randSlice(r, s.out*s.in), randSlice(r, s.m*s.in)
				want := make([]float32, s.m*s.out)
				GemvTRef(want, x, w, s.m, s.out, s.in)
				got := make([]float32, s.m*s.out)
				for i := range got {
					got[i] = float32(math.NaN())
				}
				imt.GemvT(got, x, w, s.m, s.out, s.in)
				require.LessOrEqual(t, maxAbsDiff(t, got, want), gemmTol(s.in), "%v threads=%d %+v", im.Level(), threads, s)
			}
		}
	}
	// Hand-checked case: W = [[1 2] [3 4] [5 6]], x = [[1 1] [2 -1]].
	y := make([]float32, 6)
	GemvT(y, []float32{1, 1, 2, -1}, []float32{1, 2, 3, 4, 5, 6}, 2, 3, 2)
	require.Equal(t, []float32{3, 7, 11, 0, 2, 4}, y)
}

// TestGemvTPanicsOnShortSlices checks the programmer-error message.
func TestGemvTPanicsOnShortSlices(t *testing.T) {
	require.PanicsWithValue(t, "blas.GemvT: W [3 2], m=1: x has 2, w has 5, y has 3", func() {
		GemvT(make([]float32, 3), make([]float32, 2), make([]float32, 5), 1, 3, 2)
	})
}

// TestParallel checks that every index runs exactly once.
func TestParallel(t *testing.T) {
	for _, n := range []int{0, 1, 2, 7} {
		hits := make([]int, max(n, 1))
		Parallel(n, func(w int) { hits[w]++ })
		for w, h := range hits {
			require.Equal(t, 1, h, "n=%d worker %d", n, w)
		}
	}
}

// BenchmarkGemvT times GemvT per level on SmolLM2-135M decode shapes.
func BenchmarkGemvT(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, s := range decodeShapes {
		out, in := s[0], s[1]
		w := randSlice(r, out*in)
		for _, m := range []int{1, 4} {
			x, y := randSlice(r, m*in), make([]float32, m*out)
			for _, im := range allImpls(b) {
				b.Run(fmt.Sprintf("%dx%d/m%d/%v", out, in, m, im.Level()), func(b *testing.B) {
					for b.Loop() {
						im.GemvT(y, x, w, m, out, in)
					}
					b.ReportMetric(float64(out*in*floatBytes)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
				})
			}
		}
	}
}
