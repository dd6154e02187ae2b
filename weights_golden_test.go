package fovea

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/stretchr/testify/require"
)

// TestGoldenCheckpointsBindExactly loads every golden checkpoint through
// the reader and binder (Load fails on any missing or unexpected tensor),
// then checks that every bound weight equals the file's bits and that
// every tensor in the file was bound. F32Compact keeps the bound tensors
// as they are (the default releases the row-major copies of prepared
// weights; TestF32LoadPacksLinearWeights checks those against this load).
func TestGoldenCheckpointsBindExactly(t *testing.T) {
	for _, name := range []string{"llama_tiny", "clip_tiny", "llava_tiny", "llava_tiny_2img", "mllama_tiny", "mllama_tiny_gate0"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", name)
			m, err := Load(context.Background(), dir, WithoutTokenizer(), WithQuantization(F32Compact))
			require.NoError(t, err)
			named, err := namedWeights(m.impl)
			require.NoError(t, err)
			bound := map[string]*tensor.Tensor{}
			for _, nt := range named {
				bound[nt.Name] = nt.W
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
