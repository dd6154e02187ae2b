package vision

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/internal/tensor"
)

func loadMllamaTower(t *testing.T, name string) *MllamaVision {
	t.Helper()
	dir := filepath.Join("..", "testdata", name)
	mc, err := config.Load(dir)
	require.NoError(t, err)
	require.NotNil(t, mc.Mllama)
	src, err := safetensors.Open(filepath.Join(dir, "model.safetensors"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = src.Close() })
	// Only tensors under the bound prefix are checked: the text model and
	// projector in the same checkpoint are left alone.
	m, err := LoadMllamaVision(src, MllamaVisionPrefix, &mc.Mllama.VisionConfig)
	require.NoError(t, err)
	return m
}

func goldenInts(t *testing.T, g *safetensors.File, name string) ([]int, []int) {
	t.Helper()
	v, shape, err := g.Int64(name)
	require.NoError(t, err)
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out, shape
}

// goldenVisionInput reads pixel_values / aspect ratio ids and mask (prefix
// "" or "sq.") from a golden file.
func goldenVisionInput(t *testing.T, g *safetensors.File, prefix string) *MllamaVisionInput {
	t.Helper()
	px, err := g.Float32(prefix + "pixel_values")
	require.NoError(t, err)
	ids, _ := goldenInts(t, g, prefix+"aspect_ratio_ids")
	mask, mshape := goldenInts(t, g, prefix+"aspect_ratio_mask")
	require.Equal(t, []int{1, 1, 2}, mshape)
	return &MllamaVisionInput{Pixels: px, AspectRatioIDs: [][]int{ids}, AspectRatioMask: [][][]int{{mask}}}
}

func TestMllamaVisionGolden(t *testing.T) {
	for _, name := range []string{"mllama_tiny", "mllama_tiny_gate0"} {
		t.Run(name, func(t *testing.T) {
			m := loadMllamaTower(t, name)
			g, err := safetensors.Open(filepath.Join("..", "testdata", name, "golden.safetensors"))
			require.NoError(t, err)
			defer g.Close()
			var b backend.Eager
			out := m.Forward(b, goldenVisionInput(t, g, ""))
			hidden := append(append([]backend.Value{}, out.Local...), out.Global...)
			require.Len(t, hidden, 7)
			worst := 0.0
			for i, h := range hidden {
				want, err := g.Float32(fmt.Sprintf("vision_hidden_states.%d", i))
				require.NoError(t, err)
				d := maxAbsDiff(t, want, backend.T(h))
				worst = max(worst, d)
				require.LessOrEqual(t, d, goldenTol, "vision_hidden_states.%d", i)
			}
			want, err := g.Float32("vision_output")
			require.NoError(t, err)
			d := maxAbsDiff(t, want, backend.T(out.Output))
			require.LessOrEqual(t, d, goldenTol)
			// The padded-tile variant (1 real tile + 1 padding tile).
			sq := m.Forward(b, goldenVisionInput(t, g, "sq."))
			want, err = g.Float32("sq.vision_output")
			require.NoError(t, err)
			dsq := maxAbsDiff(t, want, backend.T(sq.Output))
			require.LessOrEqual(t, dsq, goldenTol)
			t.Logf("%s: hidden max|Δ| %.3g, vision_output %.3g, sq.vision_output %.3g", name, worst, d, dsq)
		})
	}
}

func TestMllamaAspectRatioMask(t *testing.T) {
	// 2 tiles, 3 real + 1 padded token per tile; tile 1 is a padding tile.
	m := MllamaAspectRatioMask([][][]int{{{1, 0}}}, 3, 4)
	require.Equal(t, []int{1, 1, 8, 8}, m.Shape)
	pad := []bool{false, false, false, true, true, true, true, true}
	for i := 0; i < 8; i++ {
		for j := 0; j < 8; j++ {
			v := m.Data[i*8+j]
			if pad[i] && pad[j] {
				require.Less(t, v, float32(-1e38), "(%d,%d)", i, j)
			} else {
				require.Equal(t, float32(0), v, "(%d,%d)", i, j)
			}
		}
	}
}

func TestMllamaVisionBadInput(t *testing.T) {
	m := loadMllamaTower(t, "mllama_tiny")
	good := func() *MllamaVisionInput {
		return &MllamaVisionInput{
			Pixels:          tensor.New(1, 1, 2, 3, 32, 32),
			AspectRatioIDs:  [][]int{{2}},
			AspectRatioMask: [][][]int{{{1, 1}}},
		}
	}
	require.NoError(t, m.CheckInput(good()))
	in := good()
	in.Pixels = tensor.New(1, 1, 3, 3, 32, 32)
	require.ErrorContains(t, m.CheckInput(in), "above max_num_tiles 2")
	in = good()
	in.AspectRatioIDs = [][]int{{4}}
	require.ErrorContains(t, m.CheckInput(in), "unsupported aspect ratio id 4")
	in = good()
	in.Pixels = tensor.New(1, 1, 2, 3, 16, 16)
	require.ErrorContains(t, m.CheckInput(in), "pixel_values")
	in = good()
	in.AspectRatioMask = [][][]int{{{1}}}
	require.ErrorContains(t, m.CheckInput(in), "aspect ratio mask has 1 entries")
	require.Panics(t, func() { m.Forward(backend.Eager{}, in) })
}
