package fovea

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// goldenTol is the float32-vs-HF tolerance of the project.
const goldenTol = 1e-4

// golden is one HF reference case under testdata/.
type golden struct {
	dir  string
	st   *safetensors.File
	json struct {
		PromptIDs          []int `json:"prompt_ids"`
		GeneratedIDs       []int `json:"generated_ids"`
		PromptIDsLegacy    []int `json:"prompt_ids_legacy"`
		GeneratedIDsLegacy []int `json:"generated_ids_legacy"`
	}
}

func openGolden(t *testing.T, name string) *golden {
	t.Helper()
	g := &golden{dir: filepath.Join("testdata", name)}
	st, err := safetensors.Open(filepath.Join(g.dir, "golden.safetensors"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	g.st = st
	if raw, err := os.ReadFile(filepath.Join(g.dir, "golden.json")); err == nil {
		require.NoError(t, json.Unmarshal(raw, &g.json))
	}
	return g
}

func (g *golden) f32(t *testing.T, name string) *tensor.Tensor {
	t.Helper()
	x, err := g.st.Float32(name)
	require.NoError(t, err, name)
	return x
}

func (g *golden) ids(t *testing.T, name string) []int {
	t.Helper()
	v, _, err := g.st.Int64(name)
	require.NoError(t, err, name)
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// maxDiff is max |want - got| over same-sized tensors (leading 1-dims of
// got are ignored).
func maxDiff(t *testing.T, want, got *tensor.Tensor) float64 {
	t.Helper()
	require.Equal(t, tensor.Numel(want.Shape), tensor.Numel(got.Shape), "shapes %v vs %v", want.Shape, got.Shape)
	m := 0.0
	for i := range want.Data {
		m = math.Max(m, math.Abs(float64(want.Data[i])-float64(got.Data[i])))
	}
	return m
}

func requireClose(t *testing.T, what string, want, got *tensor.Tensor) float64 {
	t.Helper()
	d := maxDiff(t, want, got)
	require.LessOrEqual(t, d, goldenTol, what)
	return d
}

func generateIDs(t *testing.T, m *Model, req Request) []int {
	t.Helper()
	var out []int
	for tok, err := range m.Generate(context.Background(), req) {
		require.NoError(t, err)
		out = append(out, tok.ID)
	}
	return out
}

func loadImages(t *testing.T, dir string, names ...string) []image.Image {
	t.Helper()
	var imgs []image.Image
	for _, n := range names {
		img, err := LoadImage(filepath.Join(dir, n))
		require.NoError(t, err)
		imgs = append(imgs, img)
	}
	return imgs
}

func TestLlavaGolden(t *testing.T) {
	cases := map[string][]string{"llava_tiny": {"image.png"}, "llava_tiny_2img": {"image.png", "image2.png"}}
	for name, images := range cases {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			g := openGolden(t, name)
			m, err := Load(ctx, g.dir)
			require.NoError(t, err)
			require.Equal(t, KindLlava, m.Kind())
			worst := 0.0
			track := func(d float64) { worst = math.Max(worst, d) }

			// Pixel values from the image files, through the folder's processor.
			px, err := m.PreprocessImages(loadImages(t, g.dir, images...))
			require.NoError(t, err)
			goldPx := g.f32(t, "pixel_values")
			track(requireClose(t, "pixel_values", goldPx, px.Values))

			ids := g.ids(t, "input_ids")
			logits, err := m.Logits(ctx, ids, &Pixels{Values: goldPx})
			require.NoError(t, err)
			require.Equal(t, []int{1, len(ids), 384}, logits.Shape)
			track(requireClose(t, "logits", g.f32(t, "logits"), logits))

			legacy, err := m.Logits(ctx, g.ids(t, "input_ids_legacy"), &Pixels{Values: goldPx})
			require.NoError(t, err)
			track(requireClose(t, "legacy logits", g.f32(t, "logits"), legacy))

			// Intermediates.
			vo, err := m.VisionOutputs(ctx, &Pixels{Values: goldPx})
			require.NoError(t, err)
			for i, h := range vo.Hidden {
				track(requireClose(t, fmt.Sprint("vision_hidden_states.", i), g.f32(t, fmt.Sprint("vision_hidden_states.", i)), h))
			}
			feat, err := m.EncodeImages(ctx, &Pixels{Values: goldPx})
			require.NoError(t, err)
			track(requireClose(t, "projector_output", g.f32(t, "projector_output"), feat))
			p, err := m.impl.prefill(ctx, m.b, ids, &Pixels{Values: goldPx})
			require.NoError(t, err)
			track(requireClose(t, "inputs_embeds_merged", g.f32(t, "inputs_embeds_merged"), backend.T(p.embeds)))
			_, hidden, err := m.impl.textDecoder().ForwardHidden(m.b, p.embeds, p.state)
			require.NoError(t, err)
			for i, h := range hidden {
				key := fmt.Sprint("text_hidden_states.", i)
				track(requireClose(t, key, g.f32(t, key), backend.T(h)))
			}

			// Greedy ids: expanded ids + golden pixels, legacy ids + images.
			opts := decoder.GenerateOptions{MaxNewTokens: len(g.json.GeneratedIDs)}
			require.Equal(t, g.json.GeneratedIDs, generateIDs(t, m, Request{IDs: ids, Pixels: &Pixels{Values: goldPx}, Options: opts}))
			require.Equal(t, g.json.GeneratedIDsLegacy, generateIDs(t, m,
				Request{IDs: g.json.PromptIDsLegacy, Images: loadImages(t, g.dir, images...), Options: opts}))
			// KV-cache decoding agrees with a full recompute: one forward over
			// prompt + generated ids predicts every generated id.
			full := append(append([]int(nil), ids...), g.json.GeneratedIDs...)
			all, err := m.Logits(ctx, full, &Pixels{Values: goldPx})
			require.NoError(t, err)
			v := all.Shape[2]
			for i, want := range g.json.GeneratedIDs {
				row := all.Data[(len(ids)-1+i)*v : (len(ids)+i)*v]
				best := 0
				for j, x := range row {
					if x > row[best] {
						best = j
					}
				}
				require.Equal(t, want, best, "recomputed step %d", i)
			}
			t.Logf("%s: max |Δ| over pixels, logits and intermediates = %.3g", name, worst)
		})
	}
}
