package crossattn

import (
	"errors"
	"fmt"

	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// gateLen is the size of a scalar gate tensor ([1]).
const gateLen = 1

// Attention is HF's MllamaTextCrossAttention: queries from the text,
// keys and values from the image states, per-head RMSNorm on queries and
// keys (q_norm, k_norm over Dh), grouped-query attention without RoPE and
// without a causal mask.
type Attention struct {
	Q     *Tensor         `weight:"q_proj.weight"` // [H·Dh, D]
	K     *Tensor         `weight:"k_proj.weight"` // [KVH·Dh, D]
	V     *Tensor         `weight:"v_proj.weight"` // [KVH·Dh, D]
	O     *Tensor         `weight:"o_proj.weight"` // [D, H·Dh]
	QNorm decoder.RMSNorm `weight:"q_norm"`        // [Dh]
	KNorm decoder.RMSNorm `weight:"k_norm"`        // [Dh]

	Heads, KVHeads, HeadDim int
}

// Layer is HF's MllamaCrossAttentionDecoderLayer: it has no
// self-attention. With image states in its State:
//
//	h   = x + tanh(attn_gate) · xattn(input_layernorm(x), image K/V, mask)
//	out = h + tanh(mlp_gate) · (rowMask ⊙ mlp(post_attention_layernorm(h)))
//
// Without images it returns x unchanged (HF skips the layer).
type Layer struct {
	InputNorm    decoder.RMSNorm `weight:"input_layernorm"`
	Attn         Attention       `weight:"cross_attn"`
	AttnGate     *Tensor         `weight:"cross_attn_attn_gate"` // [1]
	PostAttnNorm decoder.RMSNorm `weight:"post_attention_layernorm"`
	MLP          decoder.MLP     `weight:"mlp"`
	MLPGate      *Tensor         `weight:"cross_attn_mlp_gate"` // [1]
}

var _ decoder.Layer = (*Layer)(nil)

// New allocates one cross-attention layer for cfg (zero weights until
// bound; the decoder's Load binds it under "layers.N.").
func New(cfg *Config) (*Layer, error) {
	if cfg == nil {
		return nil, errors.New("crossattn: nil text config")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("crossattn: %w", err)
	}
	act, err := backend.ParseAct(cfg.HiddenAct)
	if err != nil {
		return nil, fmt.Errorf("crossattn: hidden_act: %w", err)
	}
	d, eps := cfg.HiddenSize, float32(cfg.RMSNormEps)
	h, kvh, dh := cfg.NumAttentionHeads, cfg.NumKeyValueHeads, cfg.HeadDim()
	return &Layer{
		InputNorm: decoder.NewRMSNorm(d, eps),
		Attn: Attention{
			Q: tensor.New(h*dh, d), K: tensor.New(kvh*dh, d), V: tensor.New(kvh*dh, d), O: tensor.New(d, h*dh),
			QNorm: decoder.NewRMSNorm(dh, eps), KNorm: decoder.NewRMSNorm(dh, eps),
			Heads: h, KVHeads: kvh, HeadDim: dh,
		},
		AttnGate:     tensor.New(gateLen),
		PostAttnNorm: decoder.NewRMSNorm(d, eps),
		MLP:          decoder.NewMLP(d, cfg.IntermediateSize, act, false),
		MLPGate:      tensor.New(gateLen),
	}, nil
}

// NewLayers returns the layer list for decoder.NewWithLayers: a *Layer at
// every index of cross_attention_layers, nil (a self-attention Block)
// elsewhere.
func NewLayers(cfg *Config) ([]decoder.Layer, error) {
	if cfg == nil {
		return nil, errors.New("crossattn: nil text config")
	}
	layers := make([]decoder.Layer, cfg.NumHiddenLayers)
	for _, i := range cfg.CrossAttentionLayers {
		l, err := New(cfg)
		if err != nil {
			return nil, err
		}
		if i < 0 || i >= len(layers) {
			return nil, fmt.Errorf("crossattn: cross_attention_layers entry %d outside [0,%d)", i, len(layers))
		}
		layers[i] = l
	}
	return layers, nil
}

// NewState returns an empty State: no images, so Forward is the identity
// until SetImages fills it.
func (l *Layer) NewState(batch int) any { return &State{batch: batch} }

// Forward maps x [B, T, D] at positions pos to [B, T, D] using the image
// K/V and masks in state (a *State). Without images it returns x itself,
// as HF skips cross-attention layers when there is neither
// cross_attention_states nor a filled cross-attention cache.
func (l *Layer) Forward(b Backend, x Value, pos []int, state any) Value {
	if ts, ok := state.(*TrainState); ok { // whole-sequence training (train.go)
		return l.forward(b, x, ts.k, ts.v, ts.mask, ts.rows, ts.attnRows)
	}
	s, _ := state.(*State)
	if s == nil || !s.HasImages() {
		return x
	}
	mask, rows := s.rowsFor(pos) // [B, 1, T, Nv], [B, T, 1]
	rowMask := b.Const(rows)     // 1 where the token sees an image
	var attnRows backend.Value
	if s.strict {
		// Strict: tokens that see no image get no image information.
		attnRows = rowMask
	}
	return l.forward(b, x, s.k, s.v, b.Const(mask), rowMask, attnRows)
}

// forward is the layer given image keys/values k, v [B, KVH, Nv, Dh],
// the additive mask [B, 1, T, Nv], the row mask [B, T, 1] of the MLP
// branch and, when not nil, a row mask [B, T, 1] of the attention branch.
func (l *Layer) forward(b backend.Backend, x, k, v, mask, rowMask, attnRows backend.Value) backend.Value {
	attnGate := b.Activation(b.Weight(l.AttnGate), backend.ActTanh) // [1]
	mlpGate := b.Activation(b.Weight(l.MLPGate), backend.ActTanh)   // [1]

	a := l.Attn.Forward(b, l.InputNorm.Forward(b, x), k, v, mask) // [B, T, D]
	if attnRows != nil {
		a = b.Mul(a, attnRows)
	}
	// HF: hidden = residual + cross_attn_attn_gate.tanh() * hidden.
	h := b.Add(x, b.Mul(a, attnGate)) // [B, T, D]
	// HF: full_text_row_masked_out_mask[:, 0] * mlp(...), then the gated residual.
	f := b.Mul(rowMask, l.MLP.Forward(b, l.PostAttnNorm.Forward(b, h))) // [B, T, D]
	return b.Add(h, b.Mul(f, mlpGate))                                  // [B, T, D]
}

// ImageKV projects image states [B, Nv, D] to keys and values
// [B, KVH, Nv, Dh]; keys get k_norm (HF applies it after repeat_kv, which
// is the same per head).
func (a *Attention) ImageKV(b Backend, states Value) (k, v Value) {
	kv := backend.Linears(b, states, []backend.Value{b.Weight(a.K), b.Weight(a.V)}, nil) // [B, Nv, KVH·Dh] ×2
	k = splitHeads(b, kv[0], a.KVHeads, a.HeadDim)                                       // [B, KVH, Nv, Dh]
	v = splitHeads(b, kv[1], a.KVHeads, a.HeadDim)                                       // [B, KVH, Nv, Dh]
	return a.KNorm.Forward(b, k), v
}

// Forward attends from x [B, T, D] to image keys/values k, v
// [B, KVH, Nv, Dh] under the additive mask [B, 1, T, Nv] → [B, T, D].
func (a *Attention) Forward(b Backend, x, k, v, mask Value) Value {
	q := splitHeads(b, b.Linear(x, b.Weight(a.Q), nil), a.Heads, a.HeadDim) // [B, H, T, Dh]
	q = a.QNorm.Forward(b, q)                                               // q_norm over Dh
	// Scale 1/sqrt(Dh), softmax over the image tokens, GQA by repeat_kv.
	o := b.Attention(q, k, v, backend.AttnOpts{Mask: mask}) // [B, H, T, Dh]
	s := b.Shape(o)
	o = b.Transpose(o, 0, 2, 1, 3)          // [B, T, H, Dh]
	o = b.Reshape(o, s[0], s[2], s[1]*s[3]) // [B, T, H·Dh]
	return b.Linear(o, b.Weight(a.O), nil)  // [B, T, D]
}

// splitHeads turns x [B, T, N·Dh] into [B, N, T, Dh].
func splitHeads(b Backend, x Value, n, dh int) Value {
	s := b.Shape(x)
	x = b.Reshape(x, s[0], s[1], n, dh) // [B, T, N, Dh]
	return b.Transpose(x, 0, 2, 1, 3)   // [B, N, T, Dh]
}
