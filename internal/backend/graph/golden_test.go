package graph_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea/internal/backend"
	ft "github.com/fovea-ml/fovea/internal/tensor"
)

// HF golden data for llama_tiny (transformers 4.45.2): the decoder block
// of block_test.go, stacked 4 times, must reproduce HF's logits on both
// backends, and Eager with a KV cache must too.

var llamaDir = filepath.Join("..", "..", "..", "testdata", "llama_tiny")

var llamaTiny = tinyCfg{D: 64, H: 4, KVH: 2, Dh: 16, FF: 176, V: 384, Eps: 1e-5}

const (
	llamaLayers = 4
	goldenTol   = 1e-4 // float32 vs HF, max |Δ|
)

// readSafetensors is a minimal test-only reader (F32 and I64 → float32):
// 8-byte little-endian header length, JSON header, raw data.
func readSafetensors(t testing.TB, path string) map[string]*ft.Tensor {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	n := binary.LittleEndian.Uint64(raw[:8])
	var hdr map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw[8:8+n], &hdr))
	body := raw[8+n:]
	out := map[string]*ft.Tensor{}
	for name, msg := range hdr {
		if name == "__metadata__" {
			continue
		}
		var e struct {
			Dtype   string `json:"dtype"`
			Shape   []int  `json:"shape"`
			Offsets [2]int `json:"data_offsets"`
		}
		require.NoError(t, json.Unmarshal(msg, &e))
		b := body[e.Offsets[0]:e.Offsets[1]]
		x := ft.New(e.Shape...)
		for i := range x.Data {
			switch e.Dtype {
			case "F32":
				x.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			case "I64":
				x.Data[i] = float32(int64(binary.LittleEndian.Uint64(b[8*i:])))
			default:
				t.Fatalf("%s: dtype %s", name, e.Dtype)
			}
		}
		out[name] = x
	}
	return out
}

type llamaModel struct {
	layers       []*blockWeights
	emb, norm, h *ft.Tensor
}

func loadLlama(t testing.TB) *llamaModel {
	w := readSafetensors(t, filepath.Join(llamaDir, "model.safetensors"))
	get := func(name string) *ft.Tensor {
		x, ok := w[name]
		require.True(t, ok, "missing %s", name)
		return x
	}
	m := &llamaModel{emb: get("model.embed_tokens.weight"), norm: get("model.norm.weight"), h: get("lm_head.weight")}
	for i := 0; i < llamaLayers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		m.layers = append(m.layers, &blockWeights{
			norm1: get(p + "input_layernorm.weight"), norm2: get(p + "post_attention_layernorm.weight"),
			wq: get(p + "self_attn.q_proj.weight"), wk: get(p + "self_attn.k_proj.weight"),
			wv: get(p + "self_attn.v_proj.weight"), wo: get(p + "self_attn.o_proj.weight"),
			gate: get(p + "mlp.gate_proj.weight"), up: get(p + "mlp.up_proj.weight"), down: get(p + "mlp.down_proj.weight"),
		})
	}
	return m
}

// forward runs the decoder on ids [T] (batch 1) → logits [1, T, V].
func (m *llamaModel) forward(be backend.Backend, rope *backend.RoPE, ids []int) backend.Value {
	return m.forwardAt(be, rope, ids, 0, nil)
}

// forwardAt runs ids at positions start… appending to one cache per layer
// (nil: no cache).
func (m *llamaModel) forwardAt(be backend.Backend, rope *backend.RoPE, ids []int, start int, caches []*backend.KVCache) backend.Value {
	x := be.Reshape(be.Embedding(be.Weight(m.emb), ids), 1, len(ids), llamaTiny.D) // [1, T, D]
	for i, l := range m.layers {
		var c *backend.KVCache
		if caches != nil {
			c = caches[i]
		}
		x = blockAt(be, l, llamaTiny, rope, x, start, c)
	}
	x = be.RMSNorm(x, be.Weight(m.norm), llamaTiny.Eps)
	return be.Linear(x, be.Weight(m.h), nil) // [1, T, V]
}

func goldenIDs(g map[string]*ft.Tensor) []int {
	ids := make([]int, g["input_ids"].Len())
	for i, v := range g["input_ids"].Data {
		ids[i] = int(v)
	}
	return ids
}

func maxAbsDiff(t *testing.T, want, got *ft.Tensor) float64 {
	t.Helper()
	require.Equal(t, want.Shape, got.Shape)
	worst := 0.0
	for i := range want.Data {
		worst = max(worst, math.Abs(float64(want.Data[i]-got.Data[i])))
	}
	return worst
}

func TestLlamaTinyGolden(t *testing.T) {
	golden := readSafetensors(t, filepath.Join(llamaDir, "golden.safetensors"))
	want := golden["logits"]
	ids := goldenIDs(golden)
	m := loadLlama(t)
	rope := mustRoPE(t, llamaTiny.Dh, nil) // rope_theta 10000, no scaling

	eagerLogits := backend.T(m.forward(backend.Eager{}, rope, ids))
	de := maxAbsDiff(t, want, eagerLogits)

	be := newGraph()
	y := m.forward(be, rope, ids)
	mc, err := be.Compile()
	require.NoError(t, err)
	defer mc.Close()
	require.NoError(t, mc.Run(context.Background()))
	graphLogits, err := be.Read(y)
	require.NoError(t, err)
	dg := maxAbsDiff(t, want, graphLogits)
	t.Logf("llama_tiny logits max |Δ| vs HF: eager %.3g, graph %.3g", de, dg)
	require.LessOrEqual(t, de, goldenTol)
	require.LessOrEqual(t, dg, goldenTol)
}

// Eager decoding with a KV cache: prefill 5 prompt tokens, feed the rest
// one at a time (each step's logits must match HF's row), then greedy
// generation must reproduce HF's generated ids.
func TestLlamaTinyKVCacheDecode(t *testing.T) {
	golden := readSafetensors(t, filepath.Join(llamaDir, "golden.safetensors"))
	raw, err := os.ReadFile(filepath.Join(llamaDir, "golden.json"))
	require.NoError(t, err)
	var gj struct {
		Prompt    []int `json:"prompt_ids"`
		Generated []int `json:"generated_ids"`
	}
	require.NoError(t, json.Unmarshal(raw, &gj))
	ids := goldenIDs(golden)
	require.Equal(t, gj.Prompt, ids)
	want := golden["logits"]
	m := loadLlama(t)
	rope := mustRoPE(t, llamaTiny.Dh, nil)
	caches := make([]*backend.KVCache, llamaLayers)
	for i := range caches {
		caches[i] = backend.NewKVCache(1, llamaTiny.KVH, llamaTiny.Dh)
	}
	const prefill = 5
	v := llamaTiny.V
	worst := 0.0
	var last []float32
	for start := 0; start < len(ids); {
		n := 1
		if start == 0 {
			n = prefill
		}
		logits := backend.T(m.forwardAt(backend.Eager{}, rope, ids[start:start+n], start, caches))
		for i := range logits.Data {
			worst = max(worst, math.Abs(float64(logits.Data[i]-want.Data[start*v+i])))
		}
		last = logits.Data[(n-1)*v:]
		start += n
	}
	t.Logf("cached decode logits max |Δ| vs HF %.3g", worst)
	require.LessOrEqual(t, worst, goldenTol)
	var gen []int
	for len(gen) < len(gj.Generated) {
		next := argmax(last)
		gen = append(gen, next)
		logits := backend.T(m.forwardAt(backend.Eager{}, rope, []int{next}, len(ids)+len(gen)-1, caches))
		last = logits.Data
	}
	require.Equal(t, gj.Generated, gen)
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
