package projector

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/internal/weights"
)

// TestMllamaProjectorGolden maps HF's vision_output to HF's
// cross_attention_states.
func TestMllamaProjectorGolden(t *testing.T) {
	dir := filepath.Join("..", "testdata", "mllama_tiny")
	mc, err := config.Load(dir)
	require.NoError(t, err)
	src, err := safetensors.Open(filepath.Join(dir, "model.safetensors"))
	require.NoError(t, err)
	defer src.Close()
	p := NewMllama(mc.Mllama)
	require.NoError(t, weights.Bind(src, Prefix, p))
	g, err := safetensors.Open(filepath.Join(dir, "golden.safetensors"))
	require.NoError(t, err)
	defer g.Close()
	vo, err := g.Float32("vision_output")
	require.NoError(t, err)
	want, err := g.Float32("cross_attention_states")
	require.NoError(t, err)
	got := backend.T(p.Forward(backend.Eager{}, vo))
	require.Equal(t, want.Shape, got.Shape)
	worst := float32(0)
	for i := range want.Data {
		worst = max(worst, abs32(want.Data[i]-got.Data[i]))
	}
	t.Logf("cross_attention_states max|Δ| = %.3g", worst)
	require.LessOrEqual(t, worst, float32(1e-4))
	require.Panics(t, func() { p.Forward(backend.Eager{}, backend.Eager{}.Const(vo.Reshape(2, 17, 192))) })
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}
