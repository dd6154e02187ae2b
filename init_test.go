package fovea

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNewFromConfig: a fresh model follows HF's init rules (norms 1,
// biases 0, cross-attention gates 0, other weights N(0, 0.1²) for the
// tiny configs' initializer_range), one seed gives one model, and it saves
// and loads back to the same logits.
func TestNewFromConfig(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"llava_tiny", "mllama_tiny", "llama_tiny"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", name)
			m, err := NewFromConfig(ctx, dir, 1, WithoutTokenizer())
			require.NoError(t, err)
			again, err := NewFromConfig(ctx, dir, 1, WithoutTokenizer())
			require.NoError(t, err)
			other, err := NewFromConfig(ctx, dir, 2, WithoutTokenizer())
			require.NoError(t, err)
			std := initializerRange(dir)
			w, w2, w3 := m.Parts().Weights, again.Parts().Weights, other.Parts().Weights
			require.Equal(t, len(w), len(w2))
			var sum2 float64
			var n int
			for i, nt := range w {
				require.Equal(t, nt.Tensor.Data, w2[i].Tensor.Data, "one seed, one model: %s", nt.Name)
				d := nt.Tensor.Data
				switch {
				case strings.HasSuffix(nt.Name, "bias"), strings.HasSuffix(nt.Name, "cross_attn_attn_gate"), strings.HasSuffix(nt.Name, "cross_attn_mlp_gate"):
					for _, v := range d {
						require.Zero(t, v, nt.Name)
					}
				case nt.Tensor.Dims() == 1 && strings.HasSuffix(nt.Name, "norm.weight"):
					for _, v := range d {
						require.Equal(t, float32(1), v, nt.Name)
					}
				case nt.Tensor.Dims() == 2 && len(d) >= 1024:
					require.NotEqual(t, d, w3[i].Tensor.Data, "another seed draws other values: %s", nt.Name)
					for _, v := range d {
						sum2 += float64(v) * float64(v)
					}
					n += len(d)
				}
			}
			got := math.Sqrt(sum2 / float64(n))
			t.Logf("%s: std of the matrices %.4f (initializer_range %.4f)", name, got, std)
			require.InDelta(t, std, got, std*0.05)

			out := filepath.Join(t.TempDir(), "fresh")
			require.NoError(t, m.Save(ctx, out))
			back, err := Load(ctx, out, WithoutTokenizer())
			require.NoError(t, err)
			ids := []int{1, 5, 7, 9}
			a, err := m.Logits(ctx, ids, nil)
			require.NoError(t, err)
			b, err := back.Logits(ctx, ids, nil)
			require.NoError(t, err)
			require.LessOrEqual(t, maxDiff(t, a, b), 1e-5)

			if name != "llama_tiny" { // trainers render prompts with the family's template
				msgs := []Message{{Role: RoleUser, Text: "Hi"}}
				got, err := m.RenderChat(msgs, true)
				require.NoError(t, err, "a fresh model has its chat template")
				want, err := back.RenderChat(msgs, true)
				require.NoError(t, err)
				require.Equal(t, want, got)
			}
		})
	}
}

// NewFromConfig refuses what Load refuses: a tokenizer with more ids than
// the embedding table has rows, and weights that are not finite (an
// initializer_range whose draws overflow float32).
func TestNewFromConfigRefuses(t *testing.T) {
	ctx := context.Background()
	dir := tinyFolder(t, "llama_tiny", 300)
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	require.NoError(t, err)
	var cfg map[string]any
	require.NoError(t, json.Unmarshal(raw, &cfg))
	cfg["vocab_size"] = 200
	write := func() {
		data, err := json.Marshal(cfg)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644))
	}
	write()
	_, err = NewFromConfig(ctx, dir, 1)
	require.ErrorContains(t, err, "embedding table has 200 rows")

	cfg["vocab_size"] = 384
	cfg["initializer_range"] = 1e39
	write()
	_, err = NewFromConfig(ctx, dir, 1, WithoutTokenizer())
	require.ErrorContains(t, err, "refusing non-finite weights")
}

// TestNewFromConfigBudget: a config with missing size keys takes HF's
// defaults (7B for llama); NewFromConfig refuses it before allocating,
// naming the file, the size keys and the limit.
func TestNewFromConfigBudget(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type":"llama"}`), 0o644))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := NewFromConfig(ctx, dir, 1, WithoutTokenizer())
	runtime.ReadMemStats(&after)
	require.ErrorContains(t, err, "config.json")
	require.ErrorContains(t, err, "hidden_size=4096")
	require.ErrorContains(t, err, "over the limit of 1073741824")
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<20), "refused before allocating the model")

	// A raised limit is honoured: a tiny limit refuses the tiny model.
	_, err = NewFromConfig(ctx, filepath.Join("testdata", "llama_tiny"), 1, WithoutTokenizer(), WithMaxInitValues(1000))
	require.ErrorContains(t, err, "over the limit of 1000")
}
