package projector

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/fovea-ml/fovea/internal/weights"
	"github.com/fovea-ml/fovea/vision"
)

const goldenTol = 1e-4

func maxAbsDiff(t *testing.T, want, got *tensor.Tensor) float64 {
	t.Helper()
	require.Equal(t, want.Shape, got.Shape)
	m := 0.0
	for i := range want.Data {
		m = math.Max(m, math.Abs(float64(want.Data[i])-float64(got.Data[i])))
	}
	return m
}

func ints(v []int64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// TestLlavaVisionPathGolden runs CLIP → selection → projector → splice on
// the llava_tiny cases and compares every intermediate with HF.
func TestLlavaVisionPathGolden(t *testing.T) {
	for _, name := range []string{"llava_tiny", "llava_tiny_2img"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("..", "testdata", name)
			raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
			require.NoError(t, err)
			var cfg config.Llava
			require.NoError(t, json.Unmarshal(raw, &cfg))
			src, err := safetensors.Open(filepath.Join(dir, "model.safetensors"))
			require.NoError(t, err)
			defer src.Close()

			tower, err := vision.NewCLIPVision(&cfg.VisionConfig)
			require.NoError(t, err)
			pc := FromLlava(&cfg)
			has := func(n string) bool { _, ok := src.Info(n); return ok }
			require.Equal(t, MLP2, VariantFromWeights(has, Prefix))
			proj, err := New(pc, MLP2)
			require.NoError(t, err)
			embed := struct {
				W *tensor.Tensor `weight:"embed_tokens.weight"`
			}{W: tensor.New(cfg.TextConfig.VocabSize, cfg.TextConfig.HiddenSize)}
			bd := weights.NewBinder(src, weights.AllowUnexpected())
			require.NoError(t, bd.Bind(vision.LlavaCLIPPrefix, tower))
			require.NoError(t, bd.Bind(Prefix, proj))
			require.NoError(t, bd.Bind("language_model.model.", &embed))
			require.NoError(t, bd.Finish())

			gold, err := safetensors.Open(filepath.Join(dir, "golden.safetensors"))
			require.NoError(t, err)
			defer gold.Close()
			worst := 0.0
			check := func(key string, v backend.Value) {
				want, err := gold.Float32(key)
				require.NoError(t, err)
				got := backend.T(v)
				if len(want.Shape) == 3 && len(got.Shape) == 2 {
					got = got.Reshape(append([]int{1}, got.Shape...)...)
				}
				d := maxAbsDiff(t, want, got)
				require.LessOrEqual(t, d, goldenTol, key)
				worst = math.Max(worst, d)
			}
			var b backend.Eager
			px, err := gold.Float32("pixel_values")
			require.NoError(t, err)
			hidden, _, _ := tower.Forward(b, px)
			for i, h := range hidden {
				check(fmt.Sprintf("vision_hidden_states.%d", i), h)
			}
			// The tower may stop at the deepest selected layer.
			short := tower.HiddenStates(b, px, pc.MaxLayer())
			require.Len(t, short, 3)
			check("vision_hidden_state_selected_layer", short[2])
			feat, err := SelectFeatures(b, short, pc)
			require.NoError(t, err)
			check("vision_features_selected", feat)
			out := proj.Forward(b, feat)
			check("projector_output", out)

			ids64, _, err := gold.Int64("input_ids")
			require.NoError(t, err)
			ids := ints(ids64)
			merged, err := Splice(b, b.Embedding(embed.W, ids), ids, cfg.ImageTokenIndex, out)
			require.NoError(t, err)
			check("inputs_embeds_merged", merged)

			// Legacy ids expand to the same sequence.
			leg64, _, err := gold.Int64("input_ids_legacy")
			require.NoError(t, err)
			n := b.Shape(out)[0]
			exp, legacy, err := ExpandImageTokens(ints(leg64), cfg.ImageTokenIndex, cfg.ImageSeqLength, b.Shape(out)[1], n)
			require.NoError(t, err)
			require.True(t, legacy)
			require.Equal(t, ids, exp)
			same, legacy, err := ExpandImageTokens(ids, cfg.ImageTokenIndex, cfg.ImageSeqLength, b.Shape(out)[1], n)
			require.NoError(t, err)
			require.False(t, legacy)
			require.Equal(t, ids, same)
			t.Logf("%s vision path max |Δ| = %.3g", name, worst)
		})
	}
}

func TestExpandImageTokensErrors(t *testing.T) {
	const img = 9
	// 3 placeholders for 2 images in legacy form.
	_, _, err := ExpandImageTokens([]int{1, img, img, img, 2}, img, 16, 4, 2)
	require.ErrorContains(t, err, "3 image tokens")
	require.ErrorContains(t, err, "2 images")
	// Expanded form with one token too many.
	_, _, err = ExpandImageTokens(append([]int{1}, repeat(img, 17)...), img, 16, 16, 1)
	require.ErrorContains(t, err, "17 image tokens")
	require.ErrorContains(t, err, "need 16")
	// Placeholders without images.
	_, _, err = ExpandImageTokens([]int{1, img}, img, 16, 16, 0)
	require.ErrorContains(t, err, "no image")
	// Legacy expansion in order.
	out, legacy, err := ExpandImageTokens([]int{1, img, 2, img}, img, 16, 3, 2)
	require.NoError(t, err)
	require.True(t, legacy)
	require.Equal(t, []int{1, img, img, img, 2, img, img, img}, out)
	// One placeholder per image for more images than image_seq_length
	// (HF would take 17 placeholders as the expanded form and fail).
	out, legacy, err = ExpandImageTokens(append([]int{1}, repeat(img, 17)...), img, 16, 3, 17)
	require.NoError(t, err)
	require.True(t, legacy)
	require.Equal(t, append([]int{1}, repeat(img, 51)...), out)
	// A count that fits both forms (one token per image) stays expanded.
	out, legacy, err = ExpandImageTokens([]int{1, img, img}, img, 1, 1, 2)
	require.NoError(t, err)
	require.False(t, legacy)
	require.Equal(t, []int{1, img, img}, out)
}

func repeat(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// TestSpliceOrder checks masked_scatter order on hand-made rows.
func TestSpliceOrder(t *testing.T) {
	const img = 7
	ids := []int{1, img, img, 2, img, img, 3}
	emb := tensor.New(len(ids), 1)
	for i := range ids {
		emb.Data[i] = float32(100 + i)
	}
	feat := tensor.FromData([]float32{-1, -2, -3, -4}, 2, 2, 1) // 2 images × 2 patches
	var b backend.Eager
	got, err := Splice(b, emb, ids, img, feat)
	require.NoError(t, err)
	require.Equal(t, []float32{100, -1, -2, 103, -3, -4, 106}, backend.T(got).Data)
	_, err = Splice(b, emb, append([]int{img}, ids[1:]...), img, feat)
	require.ErrorContains(t, err, "5 image tokens")
	require.ErrorContains(t, err, "4 image feature rows")
}

func TestSelectFeaturesListAndFull(t *testing.T) {
	var b backend.Eager
	hidden := make([]backend.Value, 4)
	for i := range hidden {
		h := tensor.New(1, 3, 2) // [N=1, P+1=3, D=2]
		for j := range h.Data {
			h.Data[j] = float32(10*i + j)
		}
		hidden[i] = h
	}
	c := Config{VisionHidden: 2, TextHidden: 2, HiddenAct: "gelu", FeatureLayers: []int{-1, 1},
		SelectStrategy: config.StrategyDefault, NumHiddenStates: 4}
	require.NoError(t, c.Validate())
	got, err := SelectFeatures(b, hidden, c)
	require.NoError(t, err)
	// layer 3 rows 1..2 then layer 1 rows 1..2, joined per token.
	require.Equal(t, []int{1, 2, 4}, backend.T(got).Shape)
	require.Equal(t, []float32{32, 33, 12, 13, 34, 35, 14, 15}, backend.T(got).Data)
	require.Equal(t, 3, c.MaxLayer())

	c.FeatureLayers, c.SelectStrategy = []int{-4}, config.StrategyFull
	got, err = SelectFeatures(b, hidden, c)
	require.NoError(t, err)
	require.Equal(t, []int{1, 3, 2}, backend.T(got).Shape)
	require.Equal(t, float32(0), backend.T(got).Data[0])

	c.FeatureLayers = []int{-5}
	require.ErrorContains(t, c.Validate(), "-5")
	c.FeatureLayers, c.SelectStrategy = []int{0}, "cls"
	require.ErrorContains(t, c.Validate(), "cls")
}

func TestLinearKind(t *testing.T) {
	c := Config{VisionHidden: 3, TextHidden: 2, HiddenAct: "gelu", FeatureLayers: []int{-2},
		SelectStrategy: config.StrategyDefault, NumHiddenStates: 4}
	p, err := New(c, Linear)
	require.NoError(t, err)
	require.Nil(t, p.Linear2)
	copy(p.Linear1.Weight.Data, []float32{1, 0, 0, 0, 1, 1})
	copy(p.Linear1.Bias.Data, []float32{0.5, -0.5})
	x := tensor.FromData([]float32{1, 2, 3}, 1, 1, 3)
	got := backend.T(p.Forward(backend.Eager{}, x))
	require.Equal(t, []float32{1.5, 4.5}, got.Data)
	require.Equal(t, Linear, VariantFromWeights(func(string) bool { return false }, Prefix))
}
