package train

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea"
	"github.com/fovea-ml/fovea/internal/traintest"
)

// benchFolder is a fresh LLaVA with a 256-wide, 4-layer decoder and a
// 128-wide, 3-layer CLIP tower (the tiny folder's tokenizer and image
// size), or llava_tiny itself.
func benchFolder(b *testing.B, wide bool) *fovea.Model {
	dir := traintest.Folder(b, "llava_tiny")
	ctx := context.Background()
	if !wide {
		m, err := fovea.Load(ctx, dir, fovea.ForTraining())
		require.NoError(b, err)
		return m
	}
	p := filepath.Join(dir, "config.json")
	raw, err := os.ReadFile(p)
	require.NoError(b, err)
	var cfg map[string]any
	require.NoError(b, json.Unmarshal(raw, &cfg))
	text := cfg["text_config"].(map[string]any)
	for k, v := range map[string]any{"hidden_size": 256, "intermediate_size": 688, "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 32} {
		text[k] = v
	}
	vis := cfg["vision_config"].(map[string]any)
	for k, v := range map[string]any{"hidden_size": 128, "intermediate_size": 512, "num_attention_heads": 4} {
		vis[k] = v
	}
	raw, _ = json.Marshal(cfg)
	require.NoError(b, os.WriteFile(p, raw, 0o644))
	m, err := fovea.NewFromConfig(ctx, dir, 1)
	require.NoError(b, err)
	return m
}

// BenchmarkLLaVAStage1Step times one stage-1 (projector) optimizer step
// of the trainer: batch 4 of the test conversations (image features
// cached after the first step, graphs compiled once per bucket and
// warmed up before timing), reported as real tokens per second.
func BenchmarkLLaVAStage1Step(b *testing.B) {
	for _, c := range []struct {
		name string
		wide bool
	}{{"llava_tiny", false}, {"d256", true}} {
		b.Run(c.name, func(b *testing.B) {
			m := benchFolder(b, c.wide)
			data, err := LoadDataset(filepath.Join(traintest.DataDir(), "data.jsonl"), DataOptions{})
			require.NoError(b, err)
			r, _ := Builtin(RecipeProjector)
			tr, err := New(m, data, nil, Config{Recipe: r, Steps: 1 << 20, Batch: 4, Seed: 1}, b.TempDir())
			require.NoError(b, err)
			lengths, err := tr.schedule()
			require.NoError(b, err)
			ctx := context.Background()
			for range 4 { // every bucket of the epoch compiled, features cached
				_, err := tr.step(ctx, lengths)
				require.NoError(b, err)
			}
			tokens := 0
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				e, err := tr.step(ctx, lengths)
				require.NoError(b, err)
				tokens += e.Tokens
			}
			b.ReportMetric(float64(tokens)/time.Since(start).Seconds(), "tok/s")
			b.ReportMetric(float64(tokens)/float64(b.N), "tok/step")
		})
	}
}
