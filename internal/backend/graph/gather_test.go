package graph_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/backend/graph"
	ft "github.com/fovea-ml/fovea/internal/tensor"
)

// TestGatherRowsGradient: float64 central differences through GatherRows
// with repeated and skipped rows (scatter-add in the gradient).
func TestGatherRowsGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := randTensor(rng, 1, 5, 3)
	idx := []int{4, 0, 4, 2, 4, 1}
	rel := gradCheck(t, func(be backend.Backend, in []backend.Value) backend.Value {
		return be.(*graph.Backend).GatherRows(be.Mul(in[0], in[0]), idx) // a non-leaf input
	}, nil, x)
	require.Less(t, rel, 1e-7)
}

// TestGatherRowsRebind: values follow SetRows; bad indices are errors.
func TestGatherRowsRebind(t *testing.T) {
	be := graph.New(graph.Options{})
	x := ft.New(3, 2)
	copy(x.Data, []float32{0, 1, 10, 11, 20, 21})
	y := be.GatherRows(be.Const(x), []int{2, 0})
	m, err := be.Compile()
	require.NoError(t, err)
	defer m.Close()
	require.NoError(t, m.Run(context.Background()))
	got, err := be.Read(y)
	require.NoError(t, err)
	require.Equal(t, []float32{20, 21, 0, 1}, got.Data)
	require.NoError(t, be.SetRows(y, []int{1, 1}))
	require.NoError(t, m.Run(context.Background()))
	got, err = be.Read(y)
	require.NoError(t, err)
	require.Equal(t, []float32{10, 11, 10, 11}, got.Data)
	require.ErrorContains(t, be.SetRows(y, []int{3, 0}), "outside [0, 3)")
	require.ErrorContains(t, be.SetRows(y, []int{0}), "1 ids, graph built for 2")
	require.Panics(t, func() { be.GatherRows(be.Const(x), []int{5}) })
}

// TestEmbeddingsOf finds the lookups of one table, in order, and not
// those of another table or of GatherRows.
func TestEmbeddingsOf(t *testing.T) {
	be := graph.New(graph.Options{})
	a, c := ft.New(4, 2), ft.New(3, 2)
	ta, tc := be.Weight(a), be.Weight(c)
	e1 := be.Embedding(ta, []int{1})
	_ = be.Embedding(tc, []int{2})
	e3 := be.Embedding(ta, []int{3, 0})
	_ = be.GatherRows(ta, []int{0})
	require.Equal(t, []backend.Value{e1, e3}, be.EmbeddingsOf(ta))
	require.Len(t, be.EmbeddingsOf(tc), 1)
}
