package decoder

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/stretchr/testify/require"
)

// goldenTol is the float32-vs-HF tolerance.
const goldenTol = 1e-4

var llamaTinyDir = filepath.Join("..", "testdata", "llama_tiny")

type goldenIDs struct {
	PromptIDs    []int `json:"prompt_ids"`
	GeneratedIDs []int `json:"generated_ids"`
}

func loadTiny(t testing.TB) (*Model, *config.Llama) {
	t.Helper()
	mc, err := config.Load(llamaTinyDir)
	require.NoError(t, err)
	require.NotNil(t, mc.Llama)
	m, err := New(mc.Llama)
	require.NoError(t, err)
	src, err := safetensors.Open(filepath.Join(llamaTinyDir, "model.safetensors"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = src.Close() })
	require.NoError(t, m.Load(src, "model."))
	return m, mc.Llama
}

func loadGoldenIDs(t testing.TB) goldenIDs {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(llamaTinyDir, "golden.json"))
	require.NoError(t, err)
	var g goldenIDs
	require.NoError(t, json.Unmarshal(raw, &g))
	return g
}

func openGolden(t testing.TB) *safetensors.File {
	t.Helper()
	f, err := safetensors.Open(filepath.Join(llamaTinyDir, "golden.safetensors"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// maxAbsDiff compares shapes and returns max |a - b|.
func maxAbsDiff(t testing.TB, want *tensor.Tensor, got backend.Value) float64 {
	t.Helper()
	g := backend.T(got)
	require.Equal(t, want.Shape, g.Shape)
	var d float64
	for i := range want.Data {
		d = math.Max(d, math.Abs(float64(want.Data[i])-float64(g.Data[i])))
	}
	return d
}
