package weights

import (
	"math"
	"testing"

	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/stretchr/testify/require"
)

type randLayer struct {
	Norm *tensor.Tensor `weight:"norm.weight"`
	Bias *tensor.Tensor `weight:"proj.bias"`
	W    *tensor.Tensor `weight:"proj.weight"`
}

func TestRandomize(t *testing.T) {
	mk := func() *randLayer {
		return &randLayer{Norm: tensor.New(8), Bias: tensor.FromData([]float32{5, 5, 5}, 3), W: tensor.New(64, 64)}
	}
	a, b := mk(), mk()
	extra := tensor.New(10)
	require.NoError(t, Randomize(7, 0.5, a, extra))
	require.NoError(t, Randomize(7, 0.5, b))
	for _, v := range a.Norm.Data {
		require.Equal(t, float32(1), v)
	}
	require.Equal(t, []float32{0, 0, 0}, a.Bias.Data)
	require.Equal(t, a.W.Data, b.W.Data, "same seed, same values")
	var sum, sq float64
	for _, v := range a.W.Data {
		sum += float64(v)
		sq += float64(v) * float64(v)
	}
	n := float64(a.W.Len())
	std := math.Sqrt(sq/n - (sum/n)*(sum/n))
	require.InDelta(t, 0.5, std, 0.03)
	require.NotZero(t, extra.Data[0])
	require.Error(t, Randomize(1, 1, 42))
}
