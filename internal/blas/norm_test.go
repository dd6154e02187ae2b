package blas

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNormsEveryLevel holds each level's RMSNorm, LayerNorm and Max to the
// float64 reference twins on ragged lengths.
func TestNormsEveryLevel(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for _, im := range allImpls(t) {
		for _, n := range []int{1, 7, 8, 9, 31, 32, 33, 576, 769} {
			x := scaled(r, n, 3)
			for i := range x {
				x[i] += 2
			}
			w, b := randSlice(r, n), randSlice(r, n)
			got, want := make([]float32, n), make([]float32, n)
			im.RMSNorm(got, x, w, 1e-5)
			RMSNormRef(want, x, w, 1e-5)
			requireClose(t, got, want, 2e-6, 1e-7, im.Level().String()+" RMSNorm")
			im.LayerNorm(got, x, w, b, 1e-6)
			LayerNormRef(want, x, w, b, 1e-6)
			requireClose(t, got, want, 1e-5, 1e-6, im.Level().String()+" LayerNorm")
			inPlace := append([]float32(nil), x...)
			im.LayerNorm(inPlace, inPlace, w, b, 1e-6)
			requireClose(t, inPlace, want, 1e-5, 1e-6, im.Level().String()+" LayerNorm in place")
			wantMax := float32(math.Inf(-1))
			for _, v := range x {
				wantMax = float32(math.Max(float64(wantMax), float64(v)))
			}
			require.Equal(t, wantMax, im.Max(x), "%v n=%d", im.Level(), n)
		}
		// NaNs are skipped; all-NaN and empty give −Inf.
		nan := float32(math.NaN())
		require.Equal(t, float32(3), im.Max([]float32{nan, 1, 3, nan, -2, nan, nan, nan, 0, nan}))
		require.True(t, math.IsInf(float64(im.Max([]float32{nan, nan, nan, nan, nan, nan, nan, nan, nan})), -1))
		require.True(t, math.IsInf(float64(im.Max(nil)), -1))
	}
}

// TestNormKernelsMatchTwins compares each level's reduction and apply
// kernels, and the decode row-dot kernel, with their Go twins.
func TestNormKernelsMatchTwins(t *testing.T) {
	r := rand.New(rand.NewPCG(33, 34))
	for _, im := range allImpls(t) {
		for _, n := range []int{1, 7, 8, 9, 16, 33, 64, 65, 1001} {
			x, w, b := scaled(r, n, 4), randSlice(r, n), randSlice(r, n)
			tol := 1e-6 * float64(n)
			require.InDelta(t, sum(x), im.sum(x), tol*4, "%v sum n=%d", im.Level(), n)
			require.InDelta(t, sumSquares(x), im.sumSq(x), tol*16, "%v sumSq n=%d", im.Level(), n)
			require.InDelta(t, sumSqDevGo(x, 0.3), im.sumSqDev(x, 0.3), tol*16, "%v sumSqDev n=%d", im.Level(), n)
			got, want := make([]float32, n), make([]float32, n)
			im.rmsApply(got, x, w, 0.7)
			rmsApplyGo(want, x, w, 0.7)
			requireClose(t, got, want, 1e-6, 1e-7, im.Level().String()+" rmsApply")
			im.lnApply(got, x, w, b, 0.3, 0.7)
			lnApplyGo(want, x, w, b, 0.3, 0.7)
			requireClose(t, got, want, 1e-6, 1e-6, im.Level().String()+" lnApply")
			const rows = 5
			ldw := n + 3
			wm := randSlice(r, rows*ldw)
			yGot, yWant := make([]float32, rows), make([]float32, rows)
			im.dotRows(rows, n, wm, ldw, x, yGot)
			for i := range yWant {
				var s float64
				for j := 0; j < n; j++ {
					s += float64(wm[i*ldw+j]) * float64(x[j])
				}
				yWant[i] = float32(s)
			}
			require.LessOrEqual(t, maxAbsDiff(t, yGot, yWant), 4*gemmTol(n), "%v dotRows n=%d", im.Level(), n)
		}
	}
}

func BenchmarkNorms(b *testing.B) {
	r := rand.New(rand.NewPCG(35, 36))
	const n = 576
	x, w, bias, dst := randSlice(r, n), randSlice(r, n), randSlice(r, n), make([]float32, n)
	for _, im := range allImpls(b) {
		for _, op := range []struct {
			name string
			f    func()
		}{
			{"RMSNorm", func() { im.RMSNorm(dst, x, w, 1e-5) }},
			{"LayerNorm", func() { im.LayerNorm(dst, x, w, bias, 1e-5) }},
			{"Max", func() { im.Max(x) }},
		} {
			b.Run(im.Level().String()+"/"+op.name, func(b *testing.B) {
				for b.Loop() {
					op.f()
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
			})
		}
	}
}
