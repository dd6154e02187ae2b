package quant

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/stretchr/testify/require"
)

var llamaTinyDir = filepath.Join("..", "..", "testdata", "llama_tiny")

// decoderTensors lists a decoder.Model's weights under HF names: the body
// under "model.", each layer under "model.layers.i.", and the LM head as
// "lm_head.weight" (the same tensor as the embeddings when tied).
func decoderTensors(t testing.TB, m *decoder.Model) []NamedTensor {
	t.Helper()
	ts, err := TensorsOf("model.", m)
	require.NoError(t, err)
	for i, l := range m.Layers {
		lt, err := TensorsOf("model.layers."+strconv.Itoa(i)+".", l)
		require.NoError(t, err)
		ts = append(ts, lt...)
	}
	return append(ts, NamedTensor{Name: "lm_head.weight", W: m.LMHead})
}

func TestQuantizable(t *testing.T) {
	for name, want := range map[string]bool{
		"model.layers.0.self_attn.q_proj.weight":       true,
		"model.layers.3.mlp.down_proj.weight":          true,
		"vision_model.encoder.layers.0.mlp.fc1.weight": true,
		"encoder.layers.1.mlp.fc2.weight":              true,
		"lm_head.weight":                               true,
		"model.layers.0.self_attn.q_proj.bias":         false,
		"model.layers.0.input_layernorm.weight":        false,
		"model.embed_tokens.weight":                    false,
		"model.norm.weight":                            false,
	} {
		require.Equal(t, want, Quantizable(name), name)
	}
}

func loadTiny(t testing.TB) (*decoder.Model, *config.Llama) {
	t.Helper()
	mc, err := config.Load(llamaTinyDir)
	require.NoError(t, err)
	require.NotNil(t, mc.Llama)
	m, err := decoder.New(mc.Llama)
	require.NoError(t, err)
	src, err := safetensors.Open(filepath.Join(llamaTinyDir, "model.safetensors"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = src.Close() })
	require.NoError(t, m.Load(src, "model."))
	return m, mc.Llama
}

// TestGoldenLlamaTinyQ8 runs HF's llama_tiny case with Q8_0 weights:
// logits stay within a loose bound of HF's float32 logits and greedy
// decoding mostly agrees (Q8_0 is lossy).
func TestGoldenLlamaTinyQ8(t *testing.T) {
	// HF's logits reach |3.19|; Q8_0 on a width-64 model (two blocks per
	// row, one quantized activation per Linear) moves them by ~0.07, so
	// the bound is 0.1 (≈3% of the logit range).
	const (
		logitTol      = 0.1
		minSameGreedy = 6 // of 8
	)
	m, cfg := loadTiny(t)
	qm, err := QuantizeModel(decoderTensors(t, m))
	require.NoError(t, err)
	// 4 layers × q,k,v,o,gate,up + lm_head; down_proj (In = 176) and the
	// untied embeddings stay float32.
	require.Len(t, qm, 4*6+1)
	require.Contains(t, qm, m.LMHead)
	require.NotContains(t, qm, m.EmbedTokens)
	be := backend.Eager{Prepared: qm}

	var ids struct {
		PromptIDs    []int `json:"prompt_ids"`
		GeneratedIDs []int `json:"generated_ids"`
	}
	raw, err := os.ReadFile(filepath.Join(llamaTinyDir, "golden.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &ids))
	g, err := safetensors.Open(filepath.Join(llamaTinyDir, "golden.safetensors"))
	require.NoError(t, err)
	defer func() { _ = g.Close() }()
	want, err := g.Float32("logits")
	require.NoError(t, err)

	x, err := m.Embed(be, [][]int{ids.PromptIDs})
	require.NoError(t, err)
	logits, err := m.Forward(be, x, m.NewState(1))
	require.NoError(t, err)
	got := backend.T(logits)
	require.Equal(t, want.Shape, got.Shape)
	var d float64
	for i := range want.Data {
		d = math.Max(d, math.Abs(float64(want.Data[i])-float64(got.Data[i])))
	}
	var amax float64
	for _, v := range want.Data {
		amax = math.Max(amax, math.Abs(float64(v)))
	}
	t.Logf("HF max abs logit %.3g", amax)
	t.Logf("Q8_0 logits max|Δ| vs HF = %.4g", d)
	require.LessOrEqual(t, d, logitTol)
	require.Greater(t, d, 0.0, "quantization changed nothing: the table was not used")

	x, err = m.Embed(be, [][]int{ids.PromptIDs})
	require.NoError(t, err)
	gen, err := m.Greedy(context.Background(), be, m.NewState(1), x, len(ids.GeneratedIDs), cfg.EOSTokenID...)
	require.NoError(t, err)
	same := 0
	for i := range min(len(gen), len(ids.GeneratedIDs)) {
		if gen[i] == ids.GeneratedIDs[i] {
			same++
		}
	}
	t.Logf("Q8_0 greedy %v, HF %v: %d/%d equal", gen, ids.GeneratedIDs, same, len(ids.GeneratedIDs))
	require.GreaterOrEqual(t, same, minSameGreedy)
}

// TestQuantizeModelTied checks that a tied embedding is quantized once and
// serves the token lookup through Row.
func TestQuantizeModelTied(t *testing.T) {
	cfg := config.DefaultLlama()
	cfg.VocabSize, cfg.HiddenSize, cfg.IntermediateSize = 50, 64, 96
	cfg.NumHiddenLayers, cfg.NumAttentionHeads, cfg.NumKeyValueHeads = 1, 2, 1
	cfg.TieWordEmbeddings = true
	m, err := decoder.New(&cfg)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(9, 10))
	for _, nt := range decoderTensors(t, m) {
		for i := range nt.W.Data {
			nt.W.Data[i] = float32(rng.NormFloat64())
		}
	}
	qm, err := QuantizeModel(decoderTensors(t, m))
	require.NoError(t, err)
	require.Len(t, qm, 7+1) // q,k,v,o,gate,up,down + the tied table
	require.Same(t, m.EmbedTokens, m.LMHead)
	q := qm[m.EmbedTokens].(*Q8Matrix)
	be := backend.Eager{Prepared: qm}
	x, err := m.Embed(be, [][]int{{3, 7}})
	require.NoError(t, err)
	deq := q.Dequantize()
	row3 := deq.Data[3*64 : 4*64]
	require.Equal(t, row3, backend.T(x).Data[:64])
	// The lookup is lossy: it differs from the float32 row, within d/2.
	var maxd float64
	for j, v := range row3 {
		maxd = math.Max(maxd, math.Abs(float64(v-m.EmbedTokens.Data[3*64+j])))
	}
	require.Greater(t, maxd, 0.0)
	require.Less(t, maxd, 5.0/127) // |w| < 5σ, so d/2 < 2.5/127
}

func TestQuantizeModelErrors(t *testing.T) {
	w := tensor.New(2, 32)
	w.Data[0] = float32(math.NaN())
	_, err := QuantizeModel([]NamedTensor{{Name: "a.q_proj.weight", W: w}})
	require.ErrorContains(t, err, "a.q_proj.weight")
	// Odd widths and non-matching names are skipped, not errors.
	qm, err := QuantizeModel([]NamedTensor{
		{Name: "x.down_proj.weight", W: tensor.New(4, 48)},
		{Name: "x.norm.weight", W: tensor.New(4, 32)},
	})
	require.NoError(t, err)
	require.Empty(t, qm)
}
