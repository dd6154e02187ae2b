package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSdotSaxpy(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, im := range allImpls(t) {
		for _, n := range []int{0, 1, 7, 8, 9, 31, 32, 33, 100, 1001} {
			x, y := randSlice(r, n+3), randSlice(r, n+3)
			require.InDelta(t, SdotRef(n, x, y), im.Sdot(n, x, y), gemmTol(n), "%v Sdot n=%d", im.Level(), n)
			got, want := append([]float32(nil), y...), append([]float32(nil), y...)
			im.Saxpy(n, -0.75, x, got)
			SaxpyRef(n, -0.75, x, want)
			requireClose(t, got, want, 0, 1e-6, fmt.Sprintf("%v Saxpy n=%d", im.Level(), n))
			require.Equal(t, want[n:], got[n:], "Saxpy wrote past n")
		}
	}
	require.Panics(t, func() { Sdot(5, make([]float32, 4), make([]float32, 5)) })
}

func TestDot4(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, im := range allImpls(t) {
		for _, n := range []int{1, 5, 8, 15, 16, 17, 40, 577} {
			lda := n + 3
			a, x := randSlice(r, 4*lda), randSlice(r, n)
			var got [4]float32
			im.dot4(n, a, lda, x, &got)
			for row := range got {
				require.InDelta(t, SdotRef(n, a[row*lda:], x), got[row], gemmTol(n), "%v n=%d row %d", im.Level(), n, row)
			}
		}
	}
}

func TestSgemv(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	shapes := [][2]int{{1, 1}, {1, 9}, {9, 1}, {5, 7}, {17, 33}, {67, 130}, {1536, 577}, {3, 1000}}
	for _, im := range allImpls(t) {
		for _, threads := range []int{1, 2} {
			im := im.WithThreads(threads)
			for si, s := range shapes {
				for _, trans := range []bool{false, true} {
					for _, ab := range [][2]float32{{1, 0}, {0.5, 1}, {-1, 0.25}} {
						m, n := s[0], s[1]
						lda := n + si%3
						a := randSlice(r, m*lda)
						xl, yl := n, m
						if trans {
							xl, yl = m, n
						}
						x := randSlice(r, xl)
						want := randSlice(r, yl+2)
						if ab[1] == 0 {
							for i := range want {
								want[i] = float32(math.NaN()) // beta == 0 must not read y
							}
						}
						got := append([]float32(nil), want...)
						SgemvRef(trans, m, n, ab[0], a, lda, x, ab[1], want)
						im.Sgemv(trans, m, n, ab[0], a, lda, x, ab[1], got)
						name := fmt.Sprintf("%v t%d %dx%d trans=%v alpha=%g beta=%g", im.Level(), threads, m, n, trans, ab[0], ab[1])
						requireClose(t, got[:yl], want[:yl], 0, gemmTol(xl), name)
					}
				}
			}
		}
	}
	require.PanicsWithValue(t, "blas.Sgemv: A is 2×3 (trans=false): x needs 3 (has 2), y needs 2 (has 2)", func() {
		Sgemv(false, 2, 3, 1, make([]float32, 6), 3, make([]float32, 2), 0, make([]float32, 2))
	})
}

func BenchmarkSgemv(b *testing.B) {
	r := rand.New(rand.NewPCG(27, 28))
	const m, n = 1536, 576
	a, x, y := randSlice(r, m*n), randSlice(r, n), make([]float32, m)
	for _, im := range allImpls(b) {
		for _, trans := range []bool{false, true} {
			b.Run(fmt.Sprintf("%v/trans=%v", im.Level(), trans), func(b *testing.B) {
				xx, yy := x, y
				if trans {
					xx, yy = randSlice(r, m), make([]float32, n)
				}
				for b.Loop() {
					im.Sgemv(trans, m, n, 1, a, n, xx, 0, yy)
				}
				b.ReportMetric(float64(m*n*floatBytes)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
			})
		}
	}
}
