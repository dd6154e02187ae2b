package graph

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea/internal/backend"
	ft "github.com/fovea-ml/fovea/internal/tensor"
)

// TestUnusedSlicesSkipped: the gate/up column slices that GatedPair
// bypasses are marked unused at Compile (the machine copies nothing for
// them), a consumed slice is not, and Read still returns the right
// columns for both, in float32 and float64.
func TestUnusedSlicesSkipped(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	rnd := func(shape ...int) *ft.Tensor {
		x := ft.New(shape...)
		for i := range x.Data {
			x.Data[i] = float32(rng.NormFloat64())
		}
		return x
	}
	x, wg, wu, wo := rnd(2, 3, 5), rnd(4, 5), rnd(4, 5), rnd(3, 5)
	for _, opt := range []Options{{}, {Float64: true}} {
		be := New(opt)
		ys := backend.Linears(be, be.Const(x), []backend.Value{be.Const(wg), be.Const(wu)}, nil)
		act := be.GatedActivation(ys[0], ys[1], backend.ActSiLU)
		zs := backend.Linears(be, be.Const(x), []backend.Value{be.Const(wo), be.Const(wg)}, nil)
		used := be.Concat(2, zs[0], zs[0]) // zs[0] consumed, zs[1] not
		mach, err := be.Compile()
		require.NoError(t, err)
		require.NoError(t, mach.Run(context.Background()))
		unused := func(v backend.Value) bool {
			return be.Node(v).Op().(*fwdOp).k.(colSliceK).st.unused
		}
		require.True(t, unused(ys[0]))
		require.True(t, unused(ys[1]))
		require.True(t, unused(zs[1]))
		require.False(t, unused(zs[0]))
		for _, c := range []struct {
			v backend.Value
			w *ft.Tensor
		}{{ys[0], wg}, {ys[1], wu}, {zs[0], wo}, {zs[1], wg}} {
			got, err := be.Read(c.v)
			require.NoError(t, err)
			o := c.w.Shape[0]
			require.Equal(t, []int{2, 3, o}, got.Shape)
			for r := 0; r < 6; r++ {
				for j := 0; j < o; j++ {
					var s float64
					for i := 0; i < 5; i++ {
						s += float64(x.Data[r*5+i]) * float64(c.w.Data[j*5+i])
					}
					require.InDelta(t, s, got.Data[r*o+j], 1e-5)
				}
			}
		}
		_, err = be.Read(act)
		require.NoError(t, err)
		_, err = be.Read(used)
		require.NoError(t, err)
		require.NoError(t, mach.Close())
	}
}
