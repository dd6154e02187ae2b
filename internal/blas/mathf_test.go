package blas

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func relErr(got float32, want float64) float64 {
	if want == 0 {
		return math.Abs(float64(got))
	}
	return math.Abs(float64(got)-want) / math.Abs(want)
}

func TestExpfAccuracy(t *testing.T) {
	worst := 0.0
	for x := float32(-87); x <= 88; x += 0.001237 {
		worst = math.Max(worst, relErr(expf(x), math.Exp(float64(x))))
	}
	require.Less(t, worst, 1e-6)
	t.Logf("expf worst relative error %.3g", worst)
	require.Equal(t, float32(0), expf(-200))
	require.True(t, math.IsInf(float64(expf(100)), 1))
	require.True(t, math.IsNaN(float64(expf(float32(math.NaN())))))
	require.Equal(t, float32(0), expf(float32(math.Inf(-1))))
	// Subnormal range: relative error is bounded by the subnormal spacing.
	require.InDelta(t, math.Exp(-100), float64(expf(-100)), 1e-44)
}

func TestErfAccuracy(t *testing.T) {
	worstErf, worstErfc := 0.0, 0.0
	for z := float32(-7); z <= 7; z += 0.000731 {
		worstErf = math.Max(worstErf, relErr(erff(z), math.Erf(float64(z))))
		if want := math.Erfc(float64(z)); want > 1e-30 && z < erfcZero {
			worstErfc = math.Max(worstErfc, relErr(erfcf(z), want))
		}
	}
	t.Logf("erf worst relative %.3g, erfc worst relative %.3g", worstErf, worstErfc)
	require.Less(t, worstErf, 1e-6)
	require.Less(t, worstErfc, 2e-6)
	require.Equal(t, float32(0), erff(0))
	require.Equal(t, float32(1), erff(10))
	require.Equal(t, float32(-1), erff(-10))
}
