package graph

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReduce32MatchesRef: the vector reduction of three shards' gradients
// (lengths off the vector width) equals the plain loop within rounding.
func TestReduce32MatchesRef(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const shards = 3
	for _, n := range []int{1, 7, 8, 33, 1000} {
		fast, ref := make([][]float32, shards), make([][]float32, shards)
		for s := range shards {
			fast[s] = make([]float32, n)
			for j := range fast[s] {
				fast[s][j] = float32(rng.NormFloat64())
			}
			ref[s] = append([]float32(nil), fast[s]...)
		}
		reduce32(fast, 1%n, n)
		reduceRef(ref, 1%n, n)
		for j := range n {
			require.InDelta(t, ref[0][j], fast[0][j], 1e-6*(1+math.Abs(float64(ref[0][j]))), "n=%d j=%d", n, j)
		}
		require.Equal(t, ref[1], fast[1], "only shard 0's buffer is written")
	}
}
