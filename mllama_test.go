package fovea

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea/crossattn"
	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/internal/tensor"
)

type mllamaGoldenIDs struct {
	PromptIDs            []int `json:"prompt_ids"`
	GeneratedIDs         []int `json:"generated_ids"`
	GeneratedIDsTextOnly []int `json:"generated_ids_text_only"`
}

func mllamaIDs(t *testing.T, g *golden) mllamaGoldenIDs {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(g.dir, "golden.json"))
	require.NoError(t, err)
	var j mllamaGoldenIDs
	require.NoError(t, json.Unmarshal(raw, &j))
	return j
}

// mllamaGoldenPixels is the pixel input stored in the golden file under
// prefix ("" or "sq."), with HF's cross_attention_mask when withMask.
func mllamaGoldenPixels(t *testing.T, g *golden, prefix string, withMask bool) *Pixels {
	t.Helper()
	in := &MllamaInputs{
		AspectRatioIDs:  [][]int{g.ids(t, prefix+"aspect_ratio_ids")},
		AspectRatioMask: [][][]int{{g.ids(t, prefix+"aspect_ratio_mask")}},
	}
	if withMask {
		v, shape, err := g.st.Int64(prefix + "cross_attention_mask")
		require.NoError(t, err)
		in.CrossAttentionMask, err = crossattn.TokenMaskFromInt64(v, shape)
		require.NoError(t, err)
	}
	return &Pixels{Values: g.f32(t, prefix+"pixel_values"), Mllama: in}
}

func TestMllamaGolden(t *testing.T) {
	for _, name := range []string{"mllama_tiny", "mllama_tiny_gate0"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			g := openGolden(t, name)
			j := mllamaIDs(t, g)
			m, err := Load(ctx, g.dir, WithoutTokenizer())
			require.NoError(t, err)
			require.Equal(t, KindMllama, m.Kind())
			ids := g.ids(t, "input_ids")
			require.Equal(t, j.PromptIDs, ids)
			worst := 0.0
			track := func(d float64) { worst = math.Max(worst, d) }

			for _, c := range []struct{ prefix, image string }{{"", "image.png"}, {"sq.", "image_square.png"}} {
				// From the image file: preprocessing + masks from the image token.
				px, err := m.PreprocessImages(loadImages(t, g.dir, c.image))
				require.NoError(t, err)
				track(requireClose(t, c.prefix+"pixel_values", g.f32(t, c.prefix+"pixel_values"), px.Values))
				in := px.Mllama
				require.Equal(t, [][]int{g.ids(t, c.prefix+"aspect_ratio_ids")}, in.AspectRatioIDs)
				require.Equal(t, [][][]int{{g.ids(t, c.prefix+"aspect_ratio_mask")}}, in.AspectRatioMask)
				tm, err := m.impl.(*mllama).tokenMask(ids, px, in)
				require.NoError(t, err)
				require.Equal(t, g.ids(t, c.prefix+"cross_attention_mask"), tm.Data, "cross_attention_mask")
				logits, err := m.Logits(ctx, ids, px)
				require.NoError(t, err)
				track(requireClose(t, c.prefix+"logits", g.f32(t, c.prefix+"logits"), logits))
				// From the golden tensors, HF's cross_attention_mask included.
				logits, err = m.Logits(ctx, ids, mllamaGoldenPixels(t, g, c.prefix, true))
				require.NoError(t, err)
				track(requireClose(t, c.prefix+"logits (inputs)", g.f32(t, c.prefix+"logits"), logits))
			}
			// Projector output (cross_attention_states).
			states, err := m.EncodeImages(ctx, mllamaGoldenPixels(t, g, "", false))
			require.NoError(t, err)
			track(requireClose(t, "cross_attention_states", g.f32(t, "cross_attention_states"), states))
			// Text only: the cross-attention layers are skipped.
			textOnly, err := m.Logits(ctx, ids, nil)
			require.NoError(t, err)
			track(requireClose(t, "logits_text_only", g.f32(t, "logits_text_only"), textOnly))

			// Greedy generation with the image (the cross mask's last row is
			// repeated for every new token) and without.
			opts := decoder.GenerateOptions{MaxNewTokens: len(j.GeneratedIDs)}
			imgs := loadImages(t, g.dir, "image.png")
			require.Equal(t, j.GeneratedIDs, generateIDs(t, m, Request{IDs: ids, Images: imgs, Options: opts}))
			require.Equal(t, j.GeneratedIDs, generateIDs(t, m, Request{IDs: ids, Pixels: mllamaGoldenPixels(t, g, "", true), Options: opts}))
			require.Equal(t, j.GeneratedIDsTextOnly, generateIDs(t, m, Request{IDs: ids, Options: opts}))
			t.Logf("%s: max |Δ| %.3g over pixels, logits, sq.logits, cross_attention_states, logits_text_only", name, worst)
		})
	}
}

// TestMllamaGateZeroBitExact: with zero cross-attention gates the image
// changes nothing, bit for bit.
func TestMllamaGateZeroBitExact(t *testing.T) {
	ctx := context.Background()
	g := openGolden(t, "mllama_tiny_gate0")
	m, err := Load(ctx, g.dir, WithoutTokenizer())
	require.NoError(t, err)
	ids := g.ids(t, "input_ids")
	withImage, err := m.Logits(ctx, ids, mllamaGoldenPixels(t, g, "", false))
	require.NoError(t, err)
	textOnly, err := m.Logits(ctx, ids, nil)
	require.NoError(t, err)
	require.Equal(t, textOnly.Data, withImage.Data)
}

// TestMllamaStrictRows: the strict option changes exactly the rows before
// the first image token; those rows then equal the text-only logits bit
// for bit (causal attention: they see only tokens before the image).
func TestMllamaStrictRows(t *testing.T) {
	ctx := context.Background()
	g := openGolden(t, "mllama_tiny")
	m, err := Load(ctx, g.dir, WithoutTokenizer())
	require.NoError(t, err)
	ids := g.ids(t, "input_ids")
	first := 3 // the image token's position (README)
	require.Equal(t, 383, ids[first])
	hf, err := m.Logits(ctx, ids, mllamaGoldenPixels(t, g, "", false))
	require.NoError(t, err)
	px := mllamaGoldenPixels(t, g, "", false)
	px.Mllama.Strict = true
	strict, err := m.Logits(ctx, ids, px)
	require.NoError(t, err)
	textOnly, err := m.Logits(ctx, ids, nil)
	require.NoError(t, err)
	v := hf.Shape[2]
	for r := 0; r < len(ids); r++ {
		row := func(x *tensor.Tensor) []float32 { return x.Data[r*v : (r+1)*v] }
		if r < first {
			require.NotEqual(t, row(hf), row(strict), "row %d", r)
			require.Equal(t, row(textOnly), row(strict), "row %d", r)
		} else {
			// Later rows see the image in both modes; they differ only
			// through self-attention to the earlier rows.
			require.NotEqual(t, row(textOnly), row(strict), "row %d", r)
		}
	}
	require.LessOrEqual(t, maxDiff(t, g.f32(t, "logits"), hf), goldenTol)
}

func TestMllamaBadInput(t *testing.T) {
	ctx := context.Background()
	g := openGolden(t, "mllama_tiny")
	m, err := Load(ctx, g.dir, WithoutTokenizer())
	require.NoError(t, err)
	ids := g.ids(t, "input_ids")
	img := loadImages(t, g.dir, "image.png")
	px, err := m.PreprocessImages(img)
	require.NoError(t, err)

	// More image tokens than images.
	two := append([]int{383}, ids...)
	_, err = m.Logits(ctx, two, px)
	require.ErrorContains(t, err, "2 image tokens (id 383) but 1 image(s)")
	// Images but no image token.
	noTok := append([]int(nil), ids...)
	noTok[3] = 5
	_, err = m.Logits(ctx, noTok, px)
	require.ErrorContains(t, err, "no image token")
	// Unsupported aspect ratio id.
	bad := mllamaGoldenPixels(t, g, "", false)
	bad.Mllama.AspectRatioIDs = [][]int{{7}}
	_, err = m.Logits(ctx, ids, bad)
	require.ErrorContains(t, err, "unsupported aspect ratio id 7")
	// More tiles than max_num_tiles.
	bad = mllamaGoldenPixels(t, g, "", false)
	bad.Values = tensor.New(1, 1, 3, 3, 32, 32)
	bad.Mllama.AspectRatioMask = [][][]int{{{1, 1, 1}}}
	_, err = m.Logits(ctx, ids, bad)
	require.ErrorContains(t, err, "above max_num_tiles 2")
	// Pixels without the side inputs.
	_, err = m.Logits(ctx, ids, &Pixels{Values: g.f32(t, "pixel_values")})
	require.ErrorContains(t, err, "aspect ratio ids")
	// A cross_attention_mask that does not fit the prompt.
	bad = mllamaGoldenPixels(t, g, "", true)
	_, err = m.Logits(ctx, ids[:5], bad)
	require.ErrorContains(t, err, "cross_attention_mask is [1, 10, 1, 2]")
}

// TestMllamaDecodeMatchesRecompute: one forward over prompt + generated
// ids (mask rows built from the image token) predicts every generated id,
// as the cached decode steps (mask rows repeated from the prompt's last
// row) did.
func TestMllamaDecodeMatchesRecompute(t *testing.T) {
	ctx := context.Background()
	g := openGolden(t, "mllama_tiny")
	j := mllamaIDs(t, g)
	m, err := Load(ctx, g.dir, WithoutTokenizer())
	require.NoError(t, err)
	full := append(append([]int(nil), j.PromptIDs...), j.GeneratedIDs...)
	// HF's mask for the full sequence is the prompt's mask with its last
	// row repeated; building it from the image token gives the same rows.
	logits, err := m.Logits(ctx, full, mllamaGoldenPixels(t, g, "", false))
	require.NoError(t, err)
	v := logits.Shape[2]
	for i, want := range j.GeneratedIDs {
		r := len(j.PromptIDs) - 1 + i
		require.Equal(t, want, argmax(logits.Data[r*v:(r+1)*v]), fmt.Sprint("step ", i))
	}
}

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}
