package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSgemmPackedMatchesReference compares SgemmPacked with SgemmRef on
// odd shapes, both B layouts, strides, scalars, 1 and 2 goroutines and
// every level, including shapes crossing the kc and mc blocks.
func TestSgemmPackedMatchesReference(t *testing.T) {
	sizes := [][3]int{
		{1, 1, 1}, {2, 37, 19}, {13, 33, 17}, {12, 32, 8}, {25, 65, 300}, {97, 101, 263},
		{7, 1000, 5}, {200, 3, 40}, {6, 16, 3}, {145, 70, 513}, {211, 97, 197}, {3, 1, 600},
	}
	scalars := [][2]float32{{1, 0}, {1, 1}, {0.5, -1.5}, {-2, 0}}
	for _, im := range allImpls(t) {
		for _, threads := range []int{1, 2} {
			im := im.WithThreads(threads)
			for i, s := range sizes {
				for _, tb := range []bool{false, true} {
					sc := scalars[i%len(scalars)]
					pad := i % 3
					m, n, k := s[0], s[1], s[2]
					name := fmt.Sprintf("%v/t%d/%dx%dx%d/tB=%v/a=%g,b=%g", im.Level(), threads, m, n, k, tb, sc[0], sc[1])
					t.Run(name, func(t *testing.T) {
						r := rand.New(rand.NewPCG(uint64(i), 11))
						br, bc := rowsOf(tb, k, n), colsOf(tb, k, n)
						lda, ldb, ldc := k+pad, bc+pad, n+pad
						a, b := randSlice(r, m*lda), randSlice(r, br*ldb)
						want := randSlice(r, m*ldc)
						if sc[1] == 0 {
							for j := range want {
								want[j] = float32(math.NaN()) // beta == 0 must not read C
							}
						}
						got := append([]float32(nil), want...)
						SgemmRef(false, tb, m, n, k, sc[0], a, lda, b, ldb, sc[1], want, ldc)
						pb := im.PackB(tb, k, n, b, ldb)
						im.SgemmPacked(m, sc[0], a, lda, pb, sc[1], got, ldc)
						for row := 0; row < m; row++ { // padding untouched
							for j := n; j < ldc && row*ldc+j < len(got); j++ {
								require.Equal(t, math.Float32bits(want[row*ldc+j]), math.Float32bits(got[row*ldc+j]))
							}
						}
						require.LessOrEqual(t, maxAbsDiff(t, got, want), gemmTol(k)*math.Max(1, abs32(sc[0])))
						// A second product reuses the same panels.
						got2 := make([]float32, len(got))
						im.SgemmPacked(m, sc[0], a, lda, pb, 0, got2, ldc)
						want2 := make([]float32, len(got))
						SgemmRef(false, tb, m, n, k, sc[0], a, lda, b, ldb, 0, want2, ldc)
						require.LessOrEqual(t, maxAbsDiff(t, got2, want2), gemmTol(k)*math.Max(1, abs32(sc[0])))
					})
				}
			}
		}
	}
}

func TestSgemmPackedMisuse(t *testing.T) {
	impls := allImpls(t)
	pb := impls[0].PackB(false, 2, 3, make([]float32, 6), 3)
	k, n := pb.Dims()
	require.Equal(t, [2]int{2, 3}, [2]int{k, n})
	require.PanicsWithValue(t, "blas: A is 2×2 with stride 2: needs 4 elements, has 3", func() {
		impls[0].SgemmPacked(2, 1, make([]float32, 3), 2, pb, 0, make([]float32, 6), 3)
	})
	require.Panics(t, func() { impls[0].SgemmPacked(1, 1, nil, 1, nil, 0, nil, 1) })
	if len(impls) > 1 {
		require.PanicsWithValue(t, fmt.Sprintf("blas.SgemmPacked: B packed for level go, kernels are %v", impls[1].Level()), func() {
			impls[1].SgemmPacked(1, 1, make([]float32, 2), 2, pb, 0, make([]float32, 3), 3)
		})
	}
	// k == 0: C = beta·C.
	pb0 := impls[0].PackB(true, 0, 2, nil, 1)
	c := []float32{1, 2}
	impls[0].SgemmPacked(1, 1, nil, 1, pb0, 3, c, 2)
	require.Equal(t, []float32{3, 6}, c)
}

func TestSplitWork(t *testing.T) {
	th, rows := splitWork(2, 22, 18) // 256×576 on 12×32 tiles: 9 panels each
	require.Equal(t, 2, th)
	require.False(t, rows)
	th, rows = splitWork(2, 40, 3) // 3 panels split 2:1 vs 20 row tiles each
	require.Equal(t, 2, th)
	require.True(t, rows)
	th, _ = splitWork(2, 1, 1)
	require.Equal(t, 1, th)
}

// modelShapes are the Linear products of the ViT and prefill paths
// (Y = X·Wᵀ: M tokens, N = Out, K = In).
var modelShapes = [][3]int{
	{256, 576, 576}, {256, 192, 576}, {256, 1536, 576}, {256, 576, 1536},
	{197, 2304, 768}, {197, 768, 768}, {197, 3072, 768}, {197, 768, 3072},
}

// BenchmarkModelShapes times Sgemm (packing W every call) against
// SgemmPacked (W packed once) on the model shapes.
func BenchmarkModelShapes(b *testing.B) {
	r := rand.New(rand.NewPCG(8, 9))
	im := Default()
	for _, s := range modelShapes {
		m, n, k := s[0], s[1], s[2]
		x, w, y := randSlice(r, m*k), randSlice(r, n*k), make([]float32, m*n)
		flops := 2 * float64(m*n*k)
		pb := im.PackB(true, k, n, w, k)
		run := func(name string, f func()) {
			b.Run(fmt.Sprintf("%dx%dx%d/%s", m, n, k, name), func(b *testing.B) {
				for b.Loop() {
					f()
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
		run("sgemm", func() { im.Sgemm(false, true, m, n, k, 1, x, k, w, k, 0, y, n) })
		run("packed", func() { im.SgemmPacked(m, 1, x, k, pb, 0, y, n) })
	}
}
