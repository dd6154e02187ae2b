package vision

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// goldenTol is the float32-vs-HF tolerance of the project.
const goldenTol = 1e-4

func loadCLIPConfig(t *testing.T, dir string) *config.CLIPVision {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	require.NoError(t, err)
	var cfg config.CLIPVision
	require.NoError(t, json.Unmarshal(raw, &cfg))
	return &cfg
}

func maxAbsDiff(t *testing.T, want, got *tensor.Tensor) float64 {
	t.Helper()
	require.Equal(t, want.Shape, got.Shape)
	m := 0.0
	for i := range want.Data {
		m = math.Max(m, math.Abs(float64(want.Data[i])-float64(got.Data[i])))
	}
	return m
}

func TestCLIPGolden(t *testing.T) {
	dir := filepath.Join("..", "testdata", "clip_tiny")
	cfg := loadCLIPConfig(t, dir)
	src, err := safetensors.Open(filepath.Join(dir, "model.safetensors"))
	require.NoError(t, err)
	defer src.Close()
	m, err := LoadCLIPVision(src, CLIPPrefix, cfg)
	require.NoError(t, err)

	gold, err := safetensors.Open(filepath.Join(dir, "golden.safetensors"))
	require.NoError(t, err)
	defer gold.Close()
	px, err := gold.Float32("pixel_values")
	require.NoError(t, err)

	var b backend.Eager
	hidden, last, pooled := m.Forward(b, b.Const(px))
	require.Len(t, hidden, cfg.NumHiddenLayers+1)
	worst := 0.0
	check := func(name string, v backend.Value) {
		want, err := gold.Float32(name)
		require.NoError(t, err)
		d := maxAbsDiff(t, want, backend.T(v))
		require.LessOrEqual(t, d, goldenTol, name)
		worst = math.Max(worst, d)
	}
	for i, h := range hidden {
		check("hidden_states."+string(rune('0'+i)), h)
	}
	check("last_hidden_state", last)
	check("pooler_output", pooled)
	t.Logf("clip_tiny max |Δ| = %.3g", worst)
}

// TestCLIPPatchEmbedReference checks the unfold+Linear patch embedding
// against a direct stride-p convolution written as plain loops.
func TestCLIPPatchEmbedReference(t *testing.T) {
	cfg := config.CLIPVision{HiddenSize: 8, IntermediateSize: 16, NumHiddenLayers: 1, NumAttentionHeads: 2,
		NumChannels: 3, ImageSize: 12, PatchSize: 4, HiddenAct: "quick_gelu", LayerNormEps: 1e-5, ProjectionDim: 8}
	m, err := NewCLIPVision(&cfg)
	require.NoError(t, err)
	fill := func(x *tensor.Tensor, seed float64) {
		for i := range x.Data {
			x.Data[i] = float32(math.Sin(seed + 0.37*float64(i)))
		}
	}
	fill(m.Embeddings.PatchEmbedding, 1)
	fill(m.Embeddings.ClassEmbedding, 2)
	fill(m.Embeddings.PositionEmbedding, 3)
	n, c, s, p, d := 2, 3, 12, 4, 8
	px := tensor.New(n, c, s, s)
	fill(px, 4)
	got := backend.T(m.embed(backend.Eager{}, px))
	g := s / p
	require.Equal(t, []int{n, g*g + 1, d}, got.Shape)
	for i := 0; i < n; i++ {
		for tok := 0; tok <= g*g; tok++ {
			for o := 0; o < d; o++ {
				var want float64
				if tok == 0 {
					want = float64(m.Embeddings.ClassEmbedding.Data[o])
				} else {
					gy, gx := (tok-1)/g, (tok-1)%g
					for ch := 0; ch < c; ch++ {
						for ky := 0; ky < p; ky++ {
							for kx := 0; kx < p; kx++ {
								w := m.Embeddings.PatchEmbedding.Data[((o*c+ch)*p+ky)*p+kx]
								x := px.Data[((i*c+ch)*s+gy*p+ky)*s+gx*p+kx]
								want += float64(w) * float64(x)
							}
						}
					}
				}
				want += float64(m.Embeddings.PositionEmbedding.Data[tok*d+o])
				require.InDelta(t, want, got.Data[(i*(g*g+1)+tok)*d+o], 1e-5)
			}
		}
	}
}

func TestCLIPBadInput(t *testing.T) {
	dir := filepath.Join("..", "testdata", "clip_tiny")
	cfg := loadCLIPConfig(t, dir)
	m, err := NewCLIPVision(cfg)
	require.NoError(t, err)
	require.ErrorContains(t, m.CheckPixels([]int{1, 3, 16, 16}), "[1 3 16 16]")
	require.NoError(t, m.CheckPixels([]int{2, 3, 32, 32}))

	bad := *cfg
	bad.PatchSize = 5
	_, err = NewCLIPVision(&bad)
	require.ErrorContains(t, err, "patch_size")
	bad = *cfg
	bad.HiddenAct = "nope"
	_, err = NewCLIPVision(&bad)
	require.ErrorContains(t, err, "hidden_act")

	// A checkpoint lacking a tensor names it.
	src, err := safetensors.Open(filepath.Join(dir, "model.safetensors"))
	require.NoError(t, err)
	defer src.Close()
	_, err = LoadCLIPVision(src, LlavaCLIPPrefix, cfg)
	require.ErrorContains(t, err, "vision_tower.vision_model.embeddings.class_embedding")
}
