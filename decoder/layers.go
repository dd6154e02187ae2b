package decoder

import (
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// RMSNorm is HF's LlamaRMSNorm: x / sqrt(mean(x²) + eps) · weight over the
// last dimension.
type RMSNorm struct {
	Weight *Tensor `weight:"weight"` // [D]
	Eps    float32
}

// NewRMSNorm allocates a norm of width d.
func NewRMSNorm(d int, eps float32) RMSNorm {
	return RMSNorm{Weight: tensor.New(d), Eps: eps}
}

// Forward normalises x [..., D] → [..., D].
func (n *RMSNorm) Forward(b Backend, x Value) Value {
	return b.RMSNorm(x, b.Weight(n.Weight), n.Eps)
}

// MLP is HF's LlamaMLP, the gated ("SwiGLU" for SiLU) feed-forward:
// down(act(gate(x)) · up(x)).
type MLP struct {
	Gate     *Tensor `weight:"gate_proj.weight"`        // [F, D]
	GateBias *Tensor `weight:"gate_proj.bias,optional"` // [F] when mlp_bias
	Up       *Tensor `weight:"up_proj.weight"`          // [F, D]
	UpBias   *Tensor `weight:"up_proj.bias,optional"`   // [F] when mlp_bias
	Down     *Tensor `weight:"down_proj.weight"`        // [D, F]
	DownBias *Tensor `weight:"down_proj.bias,optional"` // [D] when mlp_bias
	Act      Act
}

// NewMLP allocates an MLP of width d and hidden width f; bias adds the
// three bias vectors (HF mlp_bias).
func NewMLP(d, f int, act Act, bias bool) MLP {
	m := MLP{Gate: tensor.New(f, d), Up: tensor.New(f, d), Down: tensor.New(d, f), Act: act}
	if bias {
		m.GateBias, m.UpBias, m.DownBias = tensor.New(f), tensor.New(f), tensor.New(d)
	}
	return m
}

// Forward maps x [B, T, D] → [B, T, D] (HF LlamaMLP.forward, pretraining_tp 1).
func (m *MLP) Forward(b Backend, x Value) Value {
	return b.Linear(m.hidden(b, x), b.Weight(m.Down), optWeight(b, m.DownBias)) // [B, T, D]
}

// forwardAdd is res + Forward(x): fused into the down projection when the
// backend offers backend.ResidualLinear.
func (m *MLP) forwardAdd(b Backend, x, res Value) Value {
	return linearAdd(b, m.hidden(b, x), b.Weight(m.Down), optWeight(b, m.DownBias), res) // [B, T, D]
}

// hidden is act(gate(x)) · up(x): x [B, T, D] → [B, T, F], the activation
// and product in one pass when the backend offers backend.GatedActivator.
func (m *MLP) hidden(b Backend, x Value) Value {
	gu := backend.Linears(b, x,
		[]backend.Value{b.Weight(m.Gate), b.Weight(m.Up)},
		[]backend.Value{optWeight(b, m.GateBias), optWeight(b, m.UpBias)})
	g, u := gu[0], gu[1] // [B, T, F] each
	if ga, ok := b.(backend.GatedActivator); ok {
		return ga.GatedActivation(g, u, m.Act) // [B, T, F]
	}
	return b.Mul(b.Activation(g, m.Act), u) // [B, T, F]
}

// linearAdd is res + x·wᵀ + bias, fused when the backend offers
// backend.ResidualLinear.
func linearAdd(b Backend, x, w, bias, res Value) Value {
	if rl, ok := b.(backend.ResidualLinear); ok {
		return rl.LinearAdd(x, w, bias, res)
	}
	return b.Add(res, b.Linear(x, w, bias))
}

// Attention is HF's LlamaAttention: q/k/v projections, rotary embeddings on
// q and k, grouped-query causal attention, output projection.
type Attention struct {
	Q     *Tensor `weight:"q_proj.weight"`        // [H·Dh, D]
	QBias *Tensor `weight:"q_proj.bias,optional"` // [H·Dh] when attention_bias
	K     *Tensor `weight:"k_proj.weight"`        // [KVH·Dh, D]
	KBias *Tensor `weight:"k_proj.bias,optional"` // [KVH·Dh]
	V     *Tensor `weight:"v_proj.weight"`        // [KVH·Dh, D]
	VBias *Tensor `weight:"v_proj.bias,optional"` // [KVH·Dh]
	O     *Tensor `weight:"o_proj.weight"`        // [D, H·Dh]
	OBias *Tensor `weight:"o_proj.bias,optional"` // [D]

	Heads, KVHeads, HeadDim int
	// Rope holds the rotary frequencies (shared by every layer of a model).
	Rope *RoPE
}

// NewAttention allocates an attention block of width d with the given
// head geometry; bias adds the four bias vectors (HF attention_bias).
func NewAttention(d, heads, kvHeads, headDim int, rope *RoPE, bias bool) Attention {
	a := Attention{
		Q: tensor.New(heads*headDim, d), K: tensor.New(kvHeads*headDim, d),
		V: tensor.New(kvHeads*headDim, d), O: tensor.New(d, heads*headDim),
		Heads: heads, KVHeads: kvHeads, HeadDim: headDim, Rope: rope,
	}
	if bias {
		a.QBias, a.KBias = tensor.New(heads*headDim), tensor.New(kvHeads*headDim)
		a.VBias, a.OBias = tensor.New(kvHeads*headDim), tensor.New(d)
	}
	return a
}

// Forward maps x [B, T, D] at absolute positions pos (len T) to [B, T, D].
// cache, when non-nil, receives this step's keys and values and the
// attention runs over everything cached (HF DynamicCache).
func (a *Attention) Forward(b Backend, x Value, pos []int, cache *KVCache) Value {
	return b.Linear(a.attend(b, x, pos, cache), b.Weight(a.O), optWeight(b, a.OBias)) // [B, T, D]
}

// forwardAdd is res + Forward(x, …): the residual add fused into the
// output projection when the backend offers backend.ResidualLinear.
func (a *Attention) forwardAdd(b Backend, x Value, pos []int, cache *KVCache, res Value) Value {
	return linearAdd(b, a.attend(b, x, pos, cache), b.Weight(a.O), optWeight(b, a.OBias), res) // [B, T, D]
}

// attend runs everything before the output projection: x [B, T, D] →
// attention output with merged heads [B, T, H·Dh].
func (a *Attention) attend(b Backend, x Value, pos []int, cache *KVCache) Value {
	qkv := backend.Linears(b, x,
		[]backend.Value{b.Weight(a.Q), b.Weight(a.K), b.Weight(a.V)},
		[]backend.Value{optWeight(b, a.QBias), optWeight(b, a.KBias), optWeight(b, a.VBias)})
	qx, kx, vx := qkv[0], qkv[1], qkv[2] // [B, T, H·Dh], [B, T, KVH·Dh] ×2
	// HF apply_rotary_pos_emb: rotate q and k (rotate_half convention),
	// fused with the head split when the backend can.
	var q, k backend.Value
	if hs, ok := b.(backend.HeadSplitter); ok {
		q = hs.SplitHeadsRoPE(qx, a.Heads, pos, a.Rope)   // [B, H, T, Dh]
		k = hs.SplitHeadsRoPE(kx, a.KVHeads, pos, a.Rope) // [B, KVH, T, Dh]
	} else {
		q = b.RoPE(splitHeads(b, qx, a.Heads, a.HeadDim), pos, a.Rope)   // [B, H, T, Dh]
		k = b.RoPE(splitHeads(b, kx, a.KVHeads, a.HeadDim), pos, a.Rope) // [B, KVH, T, Dh]
	}
	v := splitHeads(b, vx, a.KVHeads, a.HeadDim) // [B, KVH, T, Dh]
	// Causal, scale 1/sqrt(Dh), GQA by repeat_kv; the cache holds
	// post-RoPE keys as HF's does.
	opt := backend.AttnOpts{Causal: true, Cache: cache}
	if ma, ok := b.(backend.MergedAttention); ok {
		return ma.AttentionMerged(q, k, v, opt) // [B, T, H·Dh]
	}
	return mergeHeads(b, b.Attention(q, k, v, opt)) // [B, T, H·Dh]
}

// splitHeads turns x [B, T, N·Dh] into [B, N, T, Dh].
func splitHeads(b Backend, x Value, n, dh int) Value {
	s := b.Shape(x)
	bs, t := s[0], s[1]
	if t == 1 {
		// [B, 1, N, Dh] and [B, N, 1, Dh] share one memory layout: a
		// reshape suffices (the decode step, no copy).
		return b.Reshape(x, bs, n, 1, dh) // [B, N, 1, Dh]
	}
	x = b.Reshape(x, bs, t, n, dh)    // [B, T, N, Dh]
	return b.Transpose(x, 0, 2, 1, 3) // [B, N, T, Dh]
}

// mergeHeads turns x [B, N, T, Dh] into [B, T, N·Dh].
func mergeHeads(b Backend, x Value) Value {
	s := b.Shape(x)
	bs, n, t, dh := s[0], s[1], s[2], s[3]
	if t != 1 {
		x = b.Transpose(x, 0, 2, 1, 3) // [B, T, N, Dh]
	}
	return b.Reshape(x, bs, t, n*dh) // [B, T, N·Dh]
}

// optWeight is b.Weight(w), or nil for an absent optional tensor.
func optWeight(b Backend, w *Tensor) Value {
	if w == nil {
		return nil
	}
	return b.Weight(w)
}

// Block is HF's LlamaDecoderLayer (pre-norm): h = x + attn(norm1(x));
// out = h + mlp(norm2(h)). Its run state is a *KVCache.
type Block struct {
	InputNorm    RMSNorm   `weight:"input_layernorm"`
	Attn         Attention `weight:"self_attn"`
	PostAttnNorm RMSNorm   `weight:"post_attention_layernorm"`
	MLP          MLP       `weight:"mlp"`
}

var _ Layer = (*Block)(nil)

// NewState returns an empty KV cache for batch sequences.
func (l *Block) NewState(batch int) any {
	return backend.NewKVCache(batch, l.Attn.KVHeads, l.Attn.HeadDim)
}

// Forward maps x [B, T, D] → [B, T, D]. state is the block's
// *KVCache, or nil to attend over x alone (no cache).
func (l *Block) Forward(b Backend, x Value, pos []int, state any) Value {
	cache, _ := state.(*backend.KVCache)
	// HF LlamaDecoderLayer: residual around self-attention, then around the MLP.
	h := l.Attn.forwardAdd(b, l.InputNorm.Forward(b, x), pos, cache, x) // [B, T, D]
	return l.MLP.forwardAdd(b, l.PostAttnNorm.Forward(b, h), h)         // [B, T, D]
}
