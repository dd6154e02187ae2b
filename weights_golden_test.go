package fovea

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/fovea-ml/fovea/internal/weights"
	"github.com/fovea-ml/fovea/projector"
	"github.com/fovea-ml/fovea/vision"
	"github.com/stretchr/testify/require"
)

// weightPart is one tagged weight struct of a loaded model and the
// checkpoint prefix its names are relative to.
type weightPart struct {
	prefix string
	model  any
}

// decoderParts lists a decoder's weights: embeddings, final norm, LM head
// and every layer.
func decoderParts(d *decoder.Model, prefix, head string) ([]weightPart, map[string]*tensor.Tensor) {
	parts := make([]weightPart, 0, len(d.Layers))
	for i, l := range d.Layers {
		parts = append(parts, weightPart{fmt.Sprintf("%slayers.%d.", prefix, i), l})
	}
	return parts, map[string]*tensor.Tensor{
		prefix + "embed_tokens.weight": d.EmbedTokens,
		prefix + "norm.weight":         d.Norm,
		head:                           d.LMHead,
	}
}

// TestGoldenCheckpointsBindExactly loads every golden checkpoint through
// the reader and binder (Load fails on any missing or unexpected tensor),
// then checks that every bound weight equals the file's bits and that
// every tensor in the file was bound.
func TestGoldenCheckpointsBindExactly(t *testing.T) {
	for _, name := range []string{"llama_tiny", "clip_tiny", "llava_tiny", "llava_tiny_2img", "mllama_tiny", "mllama_tiny_gate0"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", name)
			m, err := Load(context.Background(), dir, WithoutTokenizer())
			require.NoError(t, err)
			var parts []weightPart
			var loose map[string]*tensor.Tensor
			switch a := m.impl.(type) {
			case *llama:
				parts, loose = decoderParts(a.dec, llamaPrefix, "lm_head.weight")
			case *clipVision:
				parts = []weightPart{{vision.CLIPPrefix, a.tower}}
			case *llava:
				parts, loose = decoderParts(a.dec, llavaTextPrefix, llavaHeadName)
				parts = append(parts, weightPart{vision.LlavaCLIPPrefix, a.tower}, weightPart{projector.Prefix, a.proj})
			case *mllama:
				parts, loose = decoderParts(a.dec, mllamaTextPrefix, mllamaHeadName)
				parts = append(parts, weightPart{vision.MllamaVisionPrefix, a.tower}, weightPart{projector.Prefix, a.proj})
			default:
				t.Fatalf("unknown architecture %T", a)
			}
			bound := map[string]*tensor.Tensor{}
			for k, v := range loose {
				bound[k] = v
			}
			for _, p := range parts {
				require.NoError(t, weights.Walk(p.model, func(n string, w **tensor.Tensor, _ bool) error {
					if *w != nil {
						bound[p.prefix+n] = *w
					}
					return nil
				}))
			}
			src, err := safetensors.Open(filepath.Join(dir, "model.safetensors"))
			require.NoError(t, err)
			defer src.Close()
			ignored := 0
			for _, n := range src.Names() {
				w, ok := bound[n]
				if !ok {
					// CLIP's position_ids buffer is the one tensor deliberately not bound.
					require.Contains(t, n, "position_ids", "checkpoint tensor %s was not bound", n)
					ignored++
					continue
				}
				want, err := src.Float32(n)
				require.NoError(t, err)
				require.Equal(t, want.Shape, w.Shape, n)
				for i := range want.Data {
					if math.Float32bits(want.Data[i]) != math.Float32bits(w.Data[i]) {
						t.Fatalf("%s[%d]: bound %v, file %v", n, i, w.Data[i], want.Data[i])
					}
				}
			}
			t.Logf("%d tensors bound bit for bit, %d ignored", len(src.Names())-ignored, ignored)
		})
	}
}
