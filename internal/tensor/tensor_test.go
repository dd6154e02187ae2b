package tensor

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReshapeIsAViewAndInfers(t *testing.T) {
	x := FromData([]float32{0, 1, 2, 3, 4, 5}, 2, 3)
	y := x.Reshape(3, -1)
	require.Equal(t, []int{3, 2}, y.Shape)
	y.Data[5] = 50
	require.Equal(t, float32(50), x.Data[5], "Reshape shares storage")
	require.Equal(t, []float32{3, 4, 50}, x.Row(1).Data)
	c := x.Clone()
	c.Data[0] = 9
	require.Equal(t, float32(0), x.Data[0], "Clone copies")
	require.Equal(t, 3, x.Dim(-1))
	require.Equal(t, 6, Numel([]int{2, 3}))
	require.Equal(t, 1, Numel(nil))
}

func TestShapeErrorsPanicWithShapes(t *testing.T) {
	x := New(2, 3)
	require.PanicsWithValue(t, "tensor.Reshape: cannot reshape [2 3] (6 elements) to [4 2]", func() { x.Reshape(4, 2) })
	require.Panics(t, func() { x.Reshape(-1, -1) })
	require.Panics(t, func() { x.Reshape(4, -1) })
	require.PanicsWithValue(t, "tensor.FromData: shape [2 2] needs 4 elements, got 3", func() { FromData(make([]float32, 3), 2, 2) })
}
