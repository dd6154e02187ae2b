package decoder

import (
	"context"
	"fmt"
	"testing"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/stretchr/testify/require"
)

// TestGoldenLlamaTiny compares logits and every hidden state with HF
// LlamaForCausalLM (transformers 4.45.2) on the llama_tiny case.
func TestGoldenLlamaTiny(t *testing.T) {
	m, _ := loadTiny(t)
	g := openGolden(t)
	ids := loadGoldenIDs(t)
	raw, shape, err := g.Int64("input_ids")
	require.NoError(t, err)
	require.Equal(t, []int{1, len(ids.PromptIDs)}, shape)
	for i, v := range raw {
		require.Equal(t, ids.PromptIDs[i], int(v))
	}

	var b backend.Eager
	x, err := m.Embed(b, [][]int{ids.PromptIDs})
	require.NoError(t, err)
	logits, hidden, err := m.ForwardHidden(b, x, m.NewState(1))
	require.NoError(t, err)
	require.Len(t, hidden, len(m.Layers)+1)
	for i, h := range hidden {
		want, err := g.Float32(fmt.Sprintf("hidden_states.%d", i))
		require.NoError(t, err)
		d := maxAbsDiff(t, want, h)
		t.Logf("hidden_states.%d max|Δ| = %.3g", i, d)
		require.LessOrEqual(t, d, goldenTol, "hidden_states.%d", i)
	}
	want, err := g.Float32("logits")
	require.NoError(t, err)
	d := maxAbsDiff(t, want, logits)
	t.Logf("logits max|Δ| = %.3g", d)
	require.LessOrEqual(t, d, goldenTol)
}

// TestGoldenGreedy checks the 8 greedy ids of HF generate(do_sample=False).
func TestGoldenGreedy(t *testing.T) {
	m, cfg := loadTiny(t)
	ids := loadGoldenIDs(t)
	var b backend.Eager
	x, err := m.Embed(b, [][]int{ids.PromptIDs})
	require.NoError(t, err)
	st := m.NewState(1)
	got, err := m.Greedy(context.Background(), b, st, x, len(ids.GeneratedIDs), cfg.EOSTokenID...)
	require.NoError(t, err)
	require.Equal(t, ids.GeneratedIDs, got)
	// The last token is not fed back.
	require.Equal(t, len(ids.PromptIDs)+len(ids.GeneratedIDs)-1, st.Pos())
}
