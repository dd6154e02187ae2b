package fovea

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/quant"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// TestF32LoadPacksLinearWeights: the default F32 load prepares the Linear
// weights (packed for sgemm), the packed copies hold the checkpoint's rows
// exactly (compared with an F32Compact load of the same folder; the
// golden tests check the logits through them), and the row-major copies
// of prepared weights are released.
func TestF32LoadPacksLinearWeights(t *testing.T) {
	ctx := context.Background()
	m, err := Load(ctx, "testdata/llama_tiny", WithoutTokenizer())
	require.NoError(t, err)
	c, err := Load(ctx, "testdata/llama_tiny", WithoutTokenizer(), WithQuantization(F32Compact))
	require.NoError(t, err)
	prep := m.b.(backend.Eager).Prepared
	require.NotEmpty(t, prep)
	compact, err := namedWeights(c.impl)
	require.NoError(t, err)
	byName := map[string][]float32{}
	for _, nt := range compact {
		byName[nt.Name] = nt.W.Data
	}
	names, err := namedWeights(m.impl)
	require.NoError(t, err)
	checked := 0
	for _, nt := range names {
		p, ok := prep[nt.W]
		if !ok {
			require.NotNil(t, nt.W.Data, "%s is not prepared and keeps its data", nt.Name)
			continue
		}
		require.Nil(t, nt.W.Data, "%s: the row-major copy is released", nt.Name)
		out, in := p.Dims()
		require.Equal(t, nt.W.Shape, []int{out, in})
		want := byName[nt.Name]
		row := make([]float32, in)
		for i := 0; i < out; i++ {
			p.Row(i, row)
			require.Equal(t, want[i*in:(i+1)*in], row, "%s row %d", nt.Name, i)
		}
		checked++
	}
	require.Equal(t, len(prep), checked-countTied(names, prep))
}

// countTied is how many names of ts refer to a prepared tensor already
// listed under an earlier name (a tied embedding and LM head).
func countTied(ts []quant.NamedTensor, prep map[*tensor.Tensor]backend.PreparedMatrix) int {
	seen, n := map[*tensor.Tensor]bool{}, 0
	for _, nt := range ts {
		if _, ok := prep[nt.W]; ok {
			if seen[nt.W] {
				n++
			}
			seen[nt.W] = true
		}
	}
	return n
}

// TestF32CompactLoad keeps the checkpoint layout only (no prepared table)
// and still reproduces HF's logits.
func TestF32CompactLoad(t *testing.T) {
	ctx := context.Background()
	g := openGolden(t, "llava_tiny")
	m, err := Load(ctx, g.dir, WithQuantization(F32Compact))
	require.NoError(t, err)
	require.Empty(t, m.b.(backend.Eager).Prepared)
	logits, err := m.Logits(ctx, g.ids(t, "input_ids"), &Pixels{Values: g.f32(t, "pixel_values")})
	require.NoError(t, err)
	requireClose(t, "logits", g.f32(t, "logits"), logits)
}
