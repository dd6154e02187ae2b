package gemv

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea/internal/tensor"
)

func TestGemvTMatchesRef(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, s := range []struct{ out, in, m int }{
		{1, 1, 1}, {5, 3, 2}, {17, 33, 1}, {33, 576, 3}, {1537, 576, 1}, {576, 1536, 8}, {100, 7, 0},
	} {
		w := randTensor(rng, 0.05, s.out, s.in)
		x := randTensor(rng, 1, max(s.m, 1), s.in)
		want := make([]float32, s.m*s.out)
		MatMulTRef(want, x.Data, w.Data, s.m, s.out, s.in)
		got := make([]float32, s.m*s.out)
		for i := range got {
			got[i] = float32(math.NaN())
		}
		MatMulT(got, x.Data, w.Data, s.m, s.out, s.in)
		for i := range want {
			require.InDelta(t, want[i], got[i], 1e-5*math.Sqrt(float64(s.in))+1e-6, "shape %+v y[%d]", s, i)
		}
	}
}

// randTensor fills a tensor with N(0, std) values from a seeded source.
func randTensor(rng *rand.Rand, std float64, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64() * std)
	}
	return t
}
