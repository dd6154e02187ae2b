package fovea

import (
	"context"
	"testing"

	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/stretchr/testify/require"
)

// q8LogitTol bounds Q8_0's error on the tiny golden models' logits (HF
// logits reach |3|; Q8_0 is lossy, so this is a sanity bound, not parity).
const q8LogitTol = 0.15

// TestQ8Quantization loads golden models with Q8_0 weights: logits stay
// close to HF's but are not identical (the option took effect), and the
// greedy continuation mostly agrees.
func TestQ8Quantization(t *testing.T) {
	ctx := context.Background()
	t.Run("llava_tiny", func(t *testing.T) {
		g := openGolden(t, "llava_tiny")
		m, err := Load(ctx, g.dir, WithQuantization(Q8_0))
		require.NoError(t, err)
		require.NotEmpty(t, m.b.(backend.Eager).Prepared)
		ids := g.ids(t, "input_ids")
		logits, err := m.Logits(ctx, ids, &Pixels{Values: g.f32(t, "pixel_values")})
		require.NoError(t, err)
		d := maxDiff(t, g.f32(t, "logits"), logits)
		t.Logf("Q8_0 llava_tiny logits max|Δ| vs HF = %.3g", d)
		require.Greater(t, d, goldenTol, "Q8_0 should not be exact")
		require.LessOrEqual(t, d, q8LogitTol)
		got := generateIDs(t, m, Request{IDs: ids, Pixels: &Pixels{Values: g.f32(t, "pixel_values")},
			Options: decoder.GenerateOptions{MaxNewTokens: len(g.json.GeneratedIDs)}})
		same := 0
		for i, id := range g.json.GeneratedIDs {
			if got[i] == id {
				same++
			}
		}
		t.Logf("Q8_0 greedy ids: %d of %d equal HF's", same, len(got))
		require.GreaterOrEqual(t, same, len(got)/2)
	})
	t.Run("mllama_tiny", func(t *testing.T) {
		g := openGolden(t, "mllama_tiny")
		m, err := Load(ctx, g.dir, WithoutTokenizer(), WithQuantization(Q8_0))
		require.NoError(t, err)
		logits, err := m.Logits(ctx, g.ids(t, "input_ids"), mllamaGoldenPixels(t, g, "", true))
		require.NoError(t, err)
		d := maxDiff(t, g.f32(t, "logits"), logits)
		t.Logf("Q8_0 mllama_tiny logits max|Δ| vs HF = %.3g", d)
		require.Greater(t, d, goldenTol)
		require.LessOrEqual(t, d, q8LogitTol)
	})
	t.Run("unknown", func(t *testing.T) {
		_, err := Load(ctx, "testdata/llama_tiny", WithQuantization(Quantization(9)))
		require.ErrorContains(t, err, "unknown quantization")
	})
}
