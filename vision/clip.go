package vision

import (
	"context"
	"fmt"
	"math"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/fovea-ml/fovea/internal/weights"
)

// Checkpoint prefixes of a CLIP vision tower.
const (
	// CLIPPrefix is where CLIPVisionModel checkpoints keep the tower.
	CLIPPrefix = "vision_model."
	// LlavaCLIPPrefix is where LLaVA checkpoints keep it (after renaming
	// the newer "model.vision_tower." layout to this one).
	LlavaCLIPPrefix = "vision_tower.vision_model."
	// clipPositionIDsSuffix is the position_ids buffer that older CLIP
	// checkpoints saved; it is arange(P+1) and carries no information.
	clipPositionIDsSuffix = "embeddings.position_ids"
	// clsTokens is the number of class tokens CLIP prepends.
	clsTokens = 1
	// pixelDims is the rank of a pixel batch [N, C, H, W].
	pixelDims = 4
)

// CLIPEmbeddings is HF's CLIPVisionEmbeddings: a bias-free patch
// convolution (stride = kernel = patch), a learned class token prepended,
// and learned absolute position embeddings added.
type CLIPEmbeddings struct {
	ClassEmbedding    *Tensor `weight:"class_embedding"`           // [D]
	PatchEmbedding    *Tensor `weight:"patch_embedding.weight"`    // [D, C, p, p]
	PositionEmbedding *Tensor `weight:"position_embedding.weight"` // [P+1, D]
}

// CLIPAttention is HF's CLIPAttention: full (non-causal) multi-head
// self-attention with biased q/k/v/out projections.
type CLIPAttention struct {
	Q   Linear `weight:"q_proj"`
	K   Linear `weight:"k_proj"`
	V   Linear `weight:"v_proj"`
	Out Linear `weight:"out_proj"`
}

// CLIPMLP is HF's CLIPMLP: fc2(act(fc1(x))).
type CLIPMLP struct {
	FC1 Linear `weight:"fc1"`
	FC2 Linear `weight:"fc2"`
}

// CLIPEncoderLayer is one pre-LN transformer block (HF CLIPEncoderLayer).
type CLIPEncoderLayer struct {
	Norm1 LayerNorm     `weight:"layer_norm1"`
	Attn  CLIPAttention `weight:"self_attn"`
	Norm2 LayerNorm     `weight:"layer_norm2"`
	MLP   CLIPMLP       `weight:"mlp"`
}

// CLIPVision is HF's CLIPVisionTransformer (the body of CLIPVisionModel).
// Weight names are relative to CLIPPrefix / LlavaCLIPPrefix.
type CLIPVision struct {
	Embeddings    CLIPEmbeddings     `weight:"embeddings"`
	PreLayerNorm  LayerNorm          `weight:"pre_layrnorm"` // sic, HF's name
	Layers        []CLIPEncoderLayer `weight:"encoder.layers"`
	PostLayerNorm LayerNorm          `weight:"post_layernorm"`

	cfg   config.CLIPVision
	act   backend.Act
	heads int
}

// validateCLIP checks the config (CLIPConfig.Validate) and that
// the backend implements its activation.
func validateCLIP(cfg *CLIPConfig) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("vision: clip config: %w", err)
	}
	if _, err := backend.ParseAct(cfg.HiddenAct); err != nil {
		return fmt.Errorf("vision: clip config: hidden_act: %w", err)
	}
	return nil
}

// NewCLIPVision allocates a CLIP vision tower with the weight shapes cfg
// implies (zero-filled; bind a checkpoint to fill them).
func NewCLIPVision(cfg *CLIPConfig) (*CLIPVision, error) {
	if err := validateCLIP(cfg); err != nil {
		return nil, err
	}
	act, _ := backend.ParseAct(cfg.HiddenAct)
	d, p, c := cfg.HiddenSize, cfg.PatchSize, cfg.NumChannels
	eps := float32(cfg.LayerNormEps)
	m := &CLIPVision{
		Embeddings: CLIPEmbeddings{
			ClassEmbedding:    tensor.New(d),
			PatchEmbedding:    tensor.New(d, c, p, p),
			PositionEmbedding: tensor.New(CLIPNumPatches(cfg)+clsTokens, d),
		},
		PreLayerNorm:  NewLayerNorm(d, eps),
		Layers:        make([]CLIPEncoderLayer, cfg.NumHiddenLayers),
		PostLayerNorm: NewLayerNorm(d, eps),
		cfg:           *cfg,
		act:           act,
		heads:         cfg.NumAttentionHeads,
	}
	for i := range m.Layers {
		m.Layers[i] = CLIPEncoderLayer{
			Norm1: NewLayerNorm(d, eps),
			Attn:  CLIPAttention{Q: NewLinear(d, d), K: NewLinear(d, d), V: NewLinear(d, d), Out: NewLinear(d, d)},
			Norm2: NewLayerNorm(d, eps),
			MLP:   CLIPMLP{FC1: NewLinear(d, cfg.IntermediateSize), FC2: NewLinear(cfg.IntermediateSize, d)},
		}
	}
	return m, nil
}

// CLIPNumPatches is the number of patch tokens P = (image_size/patch_size)².
func CLIPNumPatches(cfg *CLIPConfig) int { return cfg.NumPatches() }

// Config returns the configuration the tower was built with.
func (m *CLIPVision) Config() CLIPConfig { return m.cfg }

// CLIPIgnore lists the checkpoint names under prefix that a CLIP tower
// deliberately leaves unused (pass to decoder.IgnoreWeights).
func CLIPIgnore(prefix string) []string { return []string{prefix + clipPositionIDsSuffix} }

// LoadCLIPVision builds a tower for cfg and fills it from src under prefix
// (CLIPPrefix or LlavaCLIPPrefix); every missing or mis-shaped tensor is
// reported in one error.
func LoadCLIPVision(src WeightSource, prefix string, cfg *CLIPConfig) (*CLIPVision, error) {
	m, err := NewCLIPVision(cfg)
	if err != nil {
		return nil, err
	}
	if err := weights.Bind(src, prefix, m, weights.Ignore(CLIPIgnore(prefix)...)); err != nil {
		return nil, fmt.Errorf("vision: loading clip tower: %w", err)
	}
	return m, nil
}

// CheckPixels reports whether shape is a valid pixel batch [N, C, S, S]
// for this tower, with an error naming both shapes otherwise.
func (m *CLIPVision) CheckPixels(shape []int) error {
	c, s := m.cfg.NumChannels, m.cfg.ImageSize
	if len(shape) != pixelDims || shape[0] < 1 || shape[1] != c || shape[2] != s || shape[3] != s {
		return fmt.Errorf("vision: clip expects pixel_values [N, %d, %d, %d], got %v", c, s, s, shape)
	}
	return nil
}

// Forward runs the tower on pixels [N, C, S, S] and returns, as HF's
// CLIPVisionModel(output_hidden_states=True) does:
//   - hidden: num_hidden_layers+1 entries [N, P+1, D]; hidden[0] is the
//     embeddings after pre_layrnorm, hidden[i] the output of layer i-1;
//   - last: last_hidden_state [N, P+1, D] (= hidden[len-1], no post norm);
//   - pooled: pooler_output [N, D] = post_layernorm(last[:, 0]).
//
// A wrong pixel shape panics (check with CheckPixels first).
func (m *CLIPVision) Forward(b Backend, pixels Value) (hidden []Value, last, pooled Value) {
	hidden = m.HiddenStates(b, pixels, len(m.Layers))
	last = hidden[len(hidden)-1]
	n, d := b.Shape(last)[0], m.cfg.HiddenSize
	cls := b.Reshape(b.Slice(last, 1, 0, clsTokens), n, d) // [N, D]
	pooled = m.PostLayerNorm.Forward(b, cls)               // [N, D]
	return hidden, last, pooled
}

// HiddenStates returns hidden states 0..upTo ([N, P+1, D] each) and skips
// the layers after upTo: a LLaVA tower that reads layer -2 needs no more.
func (m *CLIPVision) HiddenStates(b Backend, pixels Value, upTo int) []Value {
	hidden, _ := m.HiddenStatesContext(context.Background(), b, pixels, upTo) // never cancelled
	return hidden
}

// HiddenStatesContext is HiddenStates that checks ctx between layers and
// returns its error once it is done.
func (m *CLIPVision) HiddenStatesContext(ctx context.Context, b Backend, pixels Value, upTo int) ([]Value, error) {
	if upTo < 0 || upTo > len(m.Layers) {
		panic(fmt.Sprintf("vision: CLIPVision.HiddenStates: upTo %d outside [0, %d]", upTo, len(m.Layers)))
	}
	if err := m.CheckPixels(b.Shape(pixels)); err != nil {
		panic(err.Error())
	}
	x := m.embed(b, pixels)          // [N, P+1, D]
	x = m.PreLayerNorm.Forward(b, x) // HF: hidden_states[0] is after pre_layrnorm
	hidden := make([]backend.Value, 0, upTo+1)
	hidden = append(hidden, x)
	for i := 0; i < upTo; i++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("vision: clip stopped before layer %d: %w", i, err)
		}
		x = m.Layers[i].Forward(b, x, m.heads, m.act)
		hidden = append(hidden, x)
	}
	return hidden, nil
}

// ForwardContext is Forward that checks ctx between layers.
func (m *CLIPVision) ForwardContext(ctx context.Context, b Backend, pixels Value) (hidden []Value, last, pooled Value, err error) {
	if hidden, err = m.HiddenStatesContext(ctx, b, pixels, len(m.Layers)); err != nil {
		return nil, nil, nil, err
	}
	last = hidden[len(hidden)-1]
	n, d := b.Shape(last)[0], m.cfg.HiddenSize
	cls := b.Reshape(b.Slice(last, 1, 0, clsTokens), n, d) // [N, D]
	return hidden, last, m.PostLayerNorm.Forward(b, cls), nil
}

// embed is CLIPVisionEmbeddings.forward: pixels [N, C, S, S] → [N, P+1, D].
// The stride-p, bias-free convolution is a Linear over unfolded patches:
// each patch flattened in (c, ky, kx) order, which is the memory order of
// the conv weight [D, C, p, p].
func (m *CLIPVision) embed(b Backend, pixels Value) Value {
	c, s, p, d := m.cfg.NumChannels, m.cfg.ImageSize, m.cfg.PatchSize, m.cfg.HiddenSize
	g := s / p
	n := b.Shape(pixels)[0]
	x := b.Reshape(pixels, n, c, g, p, g, p) // [N, C, gy, ky, gx, kx]
	x = b.Transpose(x, 0, 2, 4, 1, 3, 5)     // [N, gy, gx, C, ky, kx]
	x = b.Reshape(x, n, g*g, c*p*p)          // [N, P, C·p·p], patches row-major like flatten(2)
	w := b.Reshape(b.Weight(m.Embeddings.PatchEmbedding), d, c*p*p)
	patches := b.Linear(x, w, nil) // [N, P, D]
	// class_embedding.expand(N, 1, D): broadcast-add onto zeros.
	cls := b.Add(b.Const(tensor.New(n, clsTokens, d)), b.Weight(m.Embeddings.ClassEmbedding)) // [N, 1, D]
	x = b.Concat(1, cls, patches)                                                             // [N, P+1, D]
	return b.Add(x, b.Weight(m.Embeddings.PositionEmbedding))                                 // + pos [P+1, D]
}

// Forward is CLIPEncoderLayer.forward: x + attn(ln1(x)), then h + mlp(ln2(h)).
// x [N, T, D] → [N, T, D].
func (l *CLIPEncoderLayer) Forward(b Backend, x Value, heads int, act Act) Value {
	x = b.Add(x, l.Attn.Forward(b, l.Norm1.Forward(b, x), heads))
	return b.Add(x, l.MLP.Forward(b, l.Norm2.Forward(b, x), act))
}

// Forward is CLIPAttention.forward (eager, no mask): x [N, T, D] → [N, T, D].
// HF scales q by Dh^-½ before q·kᵀ; the backend scales the product, which
// agrees to float32 rounding.
func (a *CLIPAttention) Forward(b Backend, x Value, heads int) Value {
	sh := b.Shape(x)
	n, t, d := sh[0], sh[1], sh[2]
	dh := d / heads
	split := func(v backend.Value) backend.Value {
		v = b.Reshape(v, n, t, heads, dh) // [N, T, H, Dh]
		return b.Transpose(v, 0, 2, 1, 3) // [N, H, T, Dh]
	}
	qkv := backend.Linears(b, x, // one pass over the three projections
		[]backend.Value{b.Weight(a.Q.Weight), b.Weight(a.K.Weight), b.Weight(a.V.Weight)},
		[]backend.Value{b.Weight(a.Q.Bias), b.Weight(a.K.Bias), b.Weight(a.V.Bias)}) // [N, T, D] ×3
	q, k, v := split(qkv[0]), split(qkv[1]), split(qkv[2])
	o := b.Attention(q, k, v, backend.AttnOpts{Scale: float32(1 / math.Sqrt(float64(dh)))}) // [N, H, T, Dh]
	o = b.Reshape(b.Transpose(o, 0, 2, 1, 3), n, t, d)                                      // [N, T, D]
	return a.Out.Forward(b, o)
}

// Forward is CLIPMLP.forward: fc2(act(fc1(x))), x [N, T, D] → [N, T, D].
func (m *CLIPMLP) Forward(b Backend, x Value, act Act) Value {
	return m.FC2.Forward(b, b.Activation(m.FC1.Forward(b, x), act))
}
