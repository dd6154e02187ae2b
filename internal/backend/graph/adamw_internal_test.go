package graph

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	ft "github.com/fovea-ml/fovea/internal/tensor"
)

// TestAdamWMatchesRef: the threaded float32 update (chunks across
// parameters, gradient scaling folded in) against its float64 twin over
// several steps, with weight decay and sizes that straddle the chunks.
func TestAdamWMatchesRef(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{3, chunkAdam + 5, 2*chunkAdam - 1}
	var params []Param
	var ref, mRef, vRef [][]float32
	for _, n := range sizes {
		w := ft.New(n)
		for i := range w.Data {
			w.Data[i] = float32(rng.NormFloat64())
		}
		params = append(params, Param{Tensor: w})
		ref = append(ref, append([]float32(nil), w.Data...))
		mRef, vRef = append(mRef, make([]float32, n)), append(vRef, make([]float32, n))
	}
	o := NewAdamW(3e-3, 0.1)
	const gscale = 0.5
	for step := 1; step <= 5; step++ {
		grads := make([][]float32, len(sizes))
		for i, n := range sizes {
			grads[i] = make([]float32, n)
			for j := range grads[i] {
				grads[i][j] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(5)-3)))
			}
			adamwStepRef(ref[i], grads[i], mRef[i], vRef[i], o.LR, o.Beta1, o.Beta2, o.Eps, o.WeightDecay, step, gscale)
		}
		require.NoError(t, o.update(params, grads, gscale))
	}
	worst := 0.0
	for i, p := range params {
		for j, x := range p.Tensor.Data {
			worst = max(worst, math.Abs(float64(x-ref[i][j]))/max(1, math.Abs(float64(ref[i][j]))))
		}
	}
	t.Logf("max relative |fast − ref| after 5 steps %.3g", worst)
	require.Less(t, worst, 1e-6)
}

func TestGradNorm(t *testing.T) {
	g := [][]float32{{3}, make([]float32, chunkAdam+1), {}}
	g[1][chunkAdam] = 4
	require.InDelta(t, 5, GradNorm(g), 1e-12)
	require.Equal(t, 0.0, GradNorm(nil))
}
