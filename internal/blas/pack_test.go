package blas

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPackT compares each level's transposing copy with packTGo on ragged
// shapes (rows and columns not multiples of the 8×8, 6×8 or 4×8 blocks).
func TestPackT(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, im := range allImpls(t) {
		for _, rows := range []int{1, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 32} {
			for _, cols := range []int{1, 7, 8, 9, 17, 64} {
				lds, ldd := cols+5, rows+2
				src := randSlice(r, rows*lds)
				want := randSlice(r, cols*ldd)
				got := append([]float32(nil), want...)
				packTGo(want, ldd, src, lds, rows, cols, -1.5)
				im.gemm.packT(got, ldd, src, lds, rows, cols, -1.5)
				require.Equal(t, want, got, "%v rows=%d cols=%d", im.Level(), rows, cols)
			}
		}
	}
}

func BenchmarkPack(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	const lda = 1024
	a := randSlice(r, 1024*lda)
	dst := make([]float32, 288*256)
	for _, im := range allImpls(b) {
		g := &im.gemm
		b.Run(fmt.Sprintf("%v/A", im.Level()), func(b *testing.B) {
			for b.Loop() {
				packA(g, false, 288, 256, 1, a, lda, 0, 0, dst)
			}
			b.ReportMetric(float64(288*256)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
		})
		b.Run(fmt.Sprintf("%v/Btrans", im.Level()), func(b *testing.B) {
			for b.Loop() {
				packB(g, true, 256, 288, a, lda, 0, 0, dst)
			}
			b.ReportMetric(float64(288*256)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
		})
	}
}
