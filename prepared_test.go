package fovea

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea/internal/backend"
)

// TestF32LoadPacksLinearWeights: the default F32 load prepares the Linear
// weights (packed for sgemm), and the packed copies hold the checkpoint's
// rows exactly (the golden tests check the logits through them).
func TestF32LoadPacksLinearWeights(t *testing.T) {
	m, err := Load(context.Background(), "testdata/llama_tiny", WithoutTokenizer())
	require.NoError(t, err)
	prep := m.b.(backend.Eager).Prepared
	require.NotEmpty(t, prep)
	for w, p := range prep {
		out, in := p.Dims()
		require.Equal(t, w.Shape, []int{out, in})
		row := make([]float32, in)
		for _, i := range []int{0, out - 1} {
			p.Row(i, row)
			require.Equal(t, w.Data[i*in:(i+1)*in], row)
		}
	}
}

// TestF32CompactLoad keeps the checkpoint layout only (no prepared table)
// and still reproduces HF's logits.
func TestF32CompactLoad(t *testing.T) {
	ctx := context.Background()
	g := openGolden(t, "llava_tiny")
	m, err := Load(ctx, g.dir, WithQuantization(F32Compact))
	require.NoError(t, err)
	require.Empty(t, m.b.(backend.Eager).Prepared)
	logits, err := m.Logits(ctx, g.ids(t, "input_ids"), g.f32(t, "pixel_values"))
	require.NoError(t, err)
	requireClose(t, "logits", g.f32(t, "logits"), logits)
}
