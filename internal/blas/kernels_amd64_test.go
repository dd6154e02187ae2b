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
