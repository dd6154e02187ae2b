package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea"
	"github.com/stretchr/testify/require"
)

// A training run keeps its text-pretrained LLM in OUT/text-llm, a Llama
// folder Load reads with the run's tokenizer. The cross style trains with
// the LLM frozen, so the trained Mllama model's text-only logits equal
// that folder's bit for bit (which also checks the renumbered layers and
// the cut embedding table); the unified style's stage 2 trains the LLM, so
// its logits moved away from the folder's.
func TestTextLLM(t *testing.T) {
	for _, fusion := range []string{fusionUnified, fusionCross} {
		t.Run(fusion, func(t *testing.T) {
			ctx := context.Background()
			out := t.TempDir()
			f := flags{fusion: fusion, seed: 3, out: out, trainImages: 12, heldOutImages: 2, maxNew: 4,
				budget: budgets{text: 3, vision: 2, stage1: 2, stage2: 3, batch: 4}, cross: crossOptions{steps: 5}}
			require.NoError(t, run(ctx, &bytes.Buffer{}, f))
			llm, err := fovea.Load(ctx, filepath.Join(out, textLLMDir))
			require.NoError(t, err)
			require.Equal(t, fovea.KindLlama, llm.Kind())
			require.NotNil(t, llm.Tokenizer())
			self := textLayers
			if fusion == fusionCross {
				self = strings.Count(defaultCrossLayout, "s")
			}
			require.Equal(t, self, llm.Config().Llama.NumHiddenLayers)
			m, err := fovea.Load(ctx, out)
			require.NoError(t, err)

			text, err := m.RenderChat([]fovea.Message{{Role: fovea.RoleUser, Text: "How many shapes are there?"}}, true)
			require.NoError(t, err)
			ids, err := m.EncodeChat(text + "three")
			require.NoError(t, err)
			llmIDs, err := llm.EncodeChat(text + "three")
			require.NoError(t, err)
			require.Equal(t, ids, llmIDs, "one tokenizer")
			got, err := m.Logits(ctx, ids, nil)
			require.NoError(t, err)
			want, err := llm.Logits(ctx, ids, nil)
			require.NoError(t, err)
			require.Equal(t, want.Shape, got.Shape)
			if fusion == fusionCross {
				require.Equal(t, want.Data, got.Data, "the frozen LLM, bit for bit")
			} else {
				require.NotEqual(t, want.Data, got.Data, "stage 2 trains the LLM")
			}
		})
	}
}
