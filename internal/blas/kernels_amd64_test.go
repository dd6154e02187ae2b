//go:build amd64 && !purego

package blas

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPanelKernelsEveryWidth runs the panel-gemv kernels of every panel
// width against gemvPanelsGo whenever the CPU has AVX2: the 32-wide ones
// belong to the AVX-512 level but use only AVX2 instructions, so they are
// checked on AVX2-only machines too.
func TestPanelKernelsEveryWidth(t *testing.T) {
	if !hasAVX2FMA() {
		t.Skip("no AVX2+FMA")
	}
	r := rand.New(rand.NewPCG(29, 30))
	for nr := range panelKernels {
		gemv := gemvPanelsAsm(nr)
		for m := 1; m <= SmallM; m++ {
			for _, k := range []int{1, 3, 7, 65, 577} {
				const npan = 2
				x, pan := randSlice(r, m*k), randSlice(r, npan*k*nr)
				want, got := make([]float32, m*npan*nr), make([]float32, m*npan*nr)
				gemvPanelsGo(nr, k, x, k, m, pan, npan, want, npan*nr)
				gemv(k, x, k, m, pan, npan, got, npan*nr)
				require.LessOrEqual(t, maxAbsDiff(t, got, want), gemmTol(k), "nr=%d m=%d k=%d", nr, m, k)
			}
		}
	}
}

// TestAVX512GeometryOnAVX2 runs the packed drivers with the AVX-512
// level's geometry (12×32 tiles, its cache blocks and its 32-wide
// panel-gemv kernels, which use only AVX2) and the reference
// micro-kernel, so that the grouped products and the decode path of that
// level are checked on CPUs without AVX-512 too.
func TestAVX512GeometryOnAVX2(t *testing.T) {
	if !hasAVX2FMA() {
		t.Skip("no AVX2+FMA")
	}
	im, err := ForLevel(LevelGo)
	require.NoError(t, err)
	im.gemm = gemmKernel{
		mr: avx512MR, nr: avx512NR, mc: avx512MC, kc: avx512KC, nc: avx512NC, packT: packTAsm,
		micro: func(k int, a, b, c []float32, ldc int, add bool) {
			microRef(avx512MR, avx512NR, k, a, b, c, ldc, add)
		},
	}
	im.gemvPanels = gemvPanelsAsm(avx512NR)
	r := rand.New(rand.NewPCG(33, 34))
	for _, ns := range [][]int{{576, 192, 192}, {33, 4200}, {7}} {
		for _, m := range []int{1, 3, SmallM, 30} {
			const k = 200 // crosses kc
			a := randSlice(r, m*k)
			prods := make([]PackedProduct, len(ns))
			ws := make([][]float32, len(ns))
			for g, n := range ns {
				ws[g] = randSlice(r, n*k)
				prods[g] = PackedProduct{B: im.PackB(true, k, n, ws[g], k), C: make([]float32, m*n), Ldc: n}
			}
			im.SgemmPackedGroup(m, a, k, prods)
			for g, n := range ns {
				want := make([]float32, m*n)
				SgemmRef(false, true, m, n, k, 1, a, k, ws[g], k, 0, want, n)
				require.LessOrEqual(t, maxAbsDiff(t, prods[g].C, want), gemmTol(k), "n=%v m=%d product %d", ns, m, g)
			}
		}
	}
}
