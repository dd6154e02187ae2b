package vision

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/fovea-ml/fovea/internal/weights"
)

// Mllama vision constants.
const (
	// MllamaVisionPrefix is where MllamaForConditionalGeneration keeps the
	// vision tower.
	MllamaVisionPrefix = "vision_model."
	// mllamaPixelDims is the rank of Mllama pixel input [B, N, tiles, C, S, S].
	mllamaPixelDims = 6
	// mllamaOuterNormEps is the eps of layernorm_pre / layernorm_post: HF
	// builds them as nn.LayerNorm(hidden_size), i.e. torch's default eps
	// (the encoder layers use norm_eps).
	mllamaOuterNormEps = 1e-5
)

// MllamaVisionAttention is HF's MllamaVisionAttention: bias-free q/k/v/o
// projections and full multi-head attention with an additive mask.
type MllamaVisionAttention struct {
	Q *Tensor `weight:"q_proj.weight"` // [D, D]
	K *Tensor `weight:"k_proj.weight"` // [D, D]
	V *Tensor `weight:"v_proj.weight"` // [D, D]
	O *Tensor `weight:"o_proj.weight"` // [D, D]
}

// MllamaVisionGates are the two scalar gates of a global encoder layer;
// the branches are scaled by tanh(gate).
type MllamaVisionGates struct {
	Attn *Tensor `weight:"gate_attn"` // [1]
	FFN  *Tensor `weight:"gate_ffn"`  // [1]
}

// MllamaVisionLayer is HF's MllamaVisionEncoderLayer (pre-LN). Gates is nil
// for the local transformer and set for the global (gated) one.
type MllamaVisionLayer struct {
	InputNorm    LayerNorm             `weight:"input_layernorm"`
	Attn         MllamaVisionAttention `weight:"self_attn"`
	PostAttnNorm LayerNorm             `weight:"post_attention_layernorm"`
	MLP          CLIPMLP               `weight:"mlp"`
	Gates        *MllamaVisionGates    `weight:",optional"`
}

// MllamaTileEmbedding is HF's MllamaPrecomputedAspectRatioEmbedding: one
// [tiles, D] table row per aspect-ratio id, added to every token of a tile
// and scaled by tanh(gate).
type MllamaTileEmbedding struct {
	Embedding *Tensor `weight:"embedding.weight"` // [maxARid+1, tiles·D]
	Gate      *Tensor `weight:"gate"`             // [1]
}

// MllamaPositionEmbedding is HF's MllamaPrecomputedPositionEmbedding:
// (1 - tanh(gate))·embedding + tanh(gate)·tile_embedding[aspect ratio id].
type MllamaPositionEmbedding struct {
	Gate          *Tensor `weight:"gate"`                  // [1]
	Embedding     *Tensor `weight:"embedding"`             // [P+1, D]
	TileEmbedding *Tensor `weight:"tile_embedding.weight"` // [maxARid+1, tiles·(P+1)·D]
}

// MllamaVision is HF's MllamaVisionModel. Weight names are relative to
// MllamaVisionPrefix.
type MllamaVision struct {
	PatchEmbedding     *Tensor                 `weight:"patch_embedding.weight"` // [D, C, p, p]
	ClassEmbedding     *Tensor                 `weight:"class_embedding"`        // [D]
	PositionEmbedding  MllamaPositionEmbedding `weight:"gated_positional_embedding"`
	PreTileEmbedding   MllamaTileEmbedding     `weight:"pre_tile_positional_embedding"`
	PostTileEmbedding  MllamaTileEmbedding     `weight:"post_tile_positional_embedding"`
	LayerNormPre       LayerNorm               `weight:"layernorm_pre"`
	LayerNormPost      LayerNorm               `weight:"layernorm_post"`
	Layers             []MllamaVisionLayer     `weight:"transformer.layers"`
	GlobalLayers       []MllamaVisionLayer     `weight:"global_transformer.layers"`
	cfg                config.MllamaVision
	act                backend.Act
	tiles, tokens, pad int // max tiles, real tokens per tile (P+1), padded tokens per tile
}

// MllamaVisionInput is the vision tower's input, as MllamaProcessor makes it.
type MllamaVisionInput struct {
	// Pixels [B, N, tiles, C, S, S]; tiles must equal max_num_tiles.
	Pixels *Tensor
	// AspectRatioIDs [B][N]: 1-based into supported_aspect_ratios, 0 = padding image.
	AspectRatioIDs [][]int
	// AspectRatioMask [B][N][tiles]: 1 = real tile.
	AspectRatioMask [][][]int
}

// MllamaVisionOutput is what MllamaVision.Forward returns.
type MllamaVisionOutput struct {
	// Output [B, N, tiles, P+1, vision_output_dim]: the global encoder's
	// output followed by the interleaved intermediate local states
	// (channel D+L·c+j = local hidden state intermediate_layers_indices[j],
	// channel c), padding tokens removed.
	Output Value
	// Local are the local encoder's hidden states, num_hidden_layers+1
	// entries [B·N, tiles·Pp, D] (Pp = padded tokens per tile); entry 0 is
	// the encoder input (after layernorm_pre and padding).
	Local []Value
	// Global are the global encoder's hidden states, num_global_layers+1
	// entries [B·N, tiles·Pp, D]; entry 0 is layernorm_post(local output)
	// plus the post-tile embedding.
	Global []Value
}

func newMllamaVisionLayer(cfg *MllamaConfig, gated bool) MllamaVisionLayer {
	d, eps := cfg.HiddenSize, float32(cfg.NormEps)
	l := MllamaVisionLayer{
		InputNorm:    NewLayerNorm(d, eps),
		Attn:         MllamaVisionAttention{Q: tensor.New(d, d), K: tensor.New(d, d), V: tensor.New(d, d), O: tensor.New(d, d)},
		PostAttnNorm: NewLayerNorm(d, eps),
		MLP:          CLIPMLP{FC1: NewLinear(d, cfg.IntermediateSize), FC2: NewLinear(cfg.IntermediateSize, d)},
	}
	if gated {
		l.Gates = &MllamaVisionGates{Attn: tensor.New(1), FFN: tensor.New(1)}
	}
	return l
}

// NewMllamaVision allocates an Mllama vision tower with the weight shapes
// cfg implies (zero-filled; bind a checkpoint to fill them).
func NewMllamaVision(cfg *MllamaConfig) (*MllamaVision, error) {
	if cfg == nil {
		return nil, errors.New("vision: nil mllama vision config")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("vision: mllama vision config: %w", err)
	}
	act, err := backend.ParseAct(cfg.HiddenAct)
	if err != nil {
		return nil, fmt.Errorf("vision: mllama vision config: hidden_act: %w", err)
	}
	d, p, c := cfg.HiddenSize, cfg.PatchSize, cfg.NumChannels
	tiles, tokens := cfg.MaxNumTiles, cfg.TileTokens()
	ids := cfg.MaxAspectRatioID() + 1
	m := &MllamaVision{
		PatchEmbedding: tensor.New(d, c, p, p),
		ClassEmbedding: tensor.New(d),
		PositionEmbedding: MllamaPositionEmbedding{
			Gate: tensor.New(1), Embedding: tensor.New(tokens, d), TileEmbedding: tensor.New(ids, tiles*tokens*d),
		},
		PreTileEmbedding:  MllamaTileEmbedding{Embedding: tensor.New(ids, tiles*d), Gate: tensor.New(1)},
		PostTileEmbedding: MllamaTileEmbedding{Embedding: tensor.New(ids, tiles*d), Gate: tensor.New(1)},
		LayerNormPre:      NewLayerNorm(d, mllamaOuterNormEps),
		LayerNormPost:     NewLayerNorm(d, mllamaOuterNormEps),
		Layers:            make([]MllamaVisionLayer, cfg.NumHiddenLayers),
		GlobalLayers:      make([]MllamaVisionLayer, cfg.NumGlobalLayers),
		cfg:               *cfg,
		act:               act,
		tiles:             tiles,
		tokens:            tokens,
		pad:               cfg.PaddedTileTokens(),
	}
	for i := range m.Layers {
		m.Layers[i] = newMllamaVisionLayer(cfg, false)
	}
	for i := range m.GlobalLayers {
		m.GlobalLayers[i] = newMllamaVisionLayer(cfg, true)
	}
	return m, nil
}

// LoadMllamaVision builds a tower for cfg and fills it from src under
// prefix (MllamaVisionPrefix); every problem is reported in one error.
func LoadMllamaVision(src WeightSource, prefix string, cfg *MllamaConfig) (*MllamaVision, error) {
	m, err := NewMllamaVision(cfg)
	if err != nil {
		return nil, err
	}
	if err := weights.Bind(src, prefix, m); err != nil {
		return nil, fmt.Errorf("vision: loading mllama tower: %w", err)
	}
	return m, nil
}

// Config returns the configuration the tower was built with.
func (m *MllamaVision) Config() MllamaConfig { return m.cfg }

// TileTokens is the number of output tokens per tile (P+1, padding removed).
func (m *MllamaVision) TileTokens() int { return m.tokens }

// CheckInput validates in against the tower: pixel shape [B, N,
// max_num_tiles, C, S, S], aspect-ratio ids within supported_aspect_ratios,
// masks of the right size with 0/1 entries. Errors name what is wrong.
func (m *MllamaVision) CheckInput(in *MllamaVisionInput) error {
	if in == nil || in.Pixels == nil {
		return errors.New("vision: mllama: no pixel values")
	}
	s := in.Pixels.Shape
	c, sz := m.cfg.NumChannels, m.cfg.ImageSize
	if len(s) != mllamaPixelDims || s[0] < 1 || s[1] < 1 || s[3] != c || s[4] != sz || s[5] != sz {
		return fmt.Errorf("vision: mllama expects pixel_values [B, N, tiles, %d, %d, %d], got %v", c, sz, sz, s)
	}
	if s[2] > m.tiles {
		return fmt.Errorf("vision: mllama: pixel_values have %d tiles per image, above max_num_tiles %d", s[2], m.tiles)
	}
	if s[2] != m.tiles {
		return fmt.Errorf("vision: mllama: pixel_values have %d tiles per image; the tower needs them padded to max_num_tiles %d", s[2], m.tiles)
	}
	if err := checkPixelData("mllama pixel_values", in.Pixels); err != nil {
		return err
	}
	bsz, n := s[0], s[1]
	if len(in.AspectRatioIDs) != bsz || len(in.AspectRatioMask) != bsz {
		return fmt.Errorf("vision: mllama: %d aspect ratio id rows and %d mask rows for a batch of %d", len(in.AspectRatioIDs), len(in.AspectRatioMask), bsz)
	}
	maxID := m.cfg.MaxAspectRatioID()
	for b := 0; b < bsz; b++ {
		if len(in.AspectRatioIDs[b]) != n || len(in.AspectRatioMask[b]) != n {
			return fmt.Errorf("vision: mllama: sample %d has %d aspect ratio ids and %d masks for %d images", b, len(in.AspectRatioIDs[b]), len(in.AspectRatioMask[b]), n)
		}
		for i, id := range in.AspectRatioIDs[b] {
			if id < 0 || id > maxID {
				return fmt.Errorf("vision: mllama: sample %d image %d: unsupported aspect ratio id %d (supported_aspect_ratios has %d entries, ids 1..%d)", b, i, id, maxID, maxID)
			}
			if len(in.AspectRatioMask[b][i]) != m.tiles {
				return fmt.Errorf("vision: mllama: sample %d image %d: aspect ratio mask has %d entries, want %d", b, i, len(in.AspectRatioMask[b][i]), m.tiles)
			}
			for _, v := range in.AspectRatioMask[b][i] {
				if v != 0 && v != 1 {
					return fmt.Errorf("vision: mllama: sample %d image %d: aspect ratio mask entry %d is not 0 or 1", b, i, v)
				}
			}
		}
	}
	return nil
}

// Forward is MllamaVisionModel.forward (output_hidden_states): tiled
// pixels [B, N, tiles, C, S, S] → MllamaVisionOutput. An invalid input
// panics; check it with CheckInput first.
func (m *MllamaVision) Forward(b Backend, in *MllamaVisionInput) *MllamaVisionOutput {
	if err := m.CheckInput(in); err != nil {
		panic(err.Error())
	}
	out, _ := m.ForwardContext(context.Background(), b, in) // never cancelled
	return out
}

// ForwardContext is Forward that checks ctx between layers and returns
// its error once it is done; an invalid input is an error here.
func (m *MllamaVision) ForwardContext(ctx context.Context, b Backend, in *MllamaVisionInput) (*MllamaVisionOutput, error) {
	if err := m.CheckInput(in); err != nil {
		return nil, err
	}
	ids := make([]int, 0, len(in.AspectRatioIDs)*len(in.AspectRatioIDs[0]))
	for _, row := range in.AspectRatioIDs {
		ids = append(ids, row...)
	}
	mask := b.Const(MllamaAspectRatioMask(in.AspectRatioMask, m.tokens, m.pad))
	return m.forward(ctx, b, b.Const(in.Pixels), ids, mask)
}

// forward is Forward on values: pixels [B, N, tiles, C, S, S], the
// aspect ratio ids of the B·N images and the attention mask
// (MllamaAspectRatioMask) [B·N, 1, tiles·Pp, tiles·Pp].
func (m *MllamaVision) forward(ctx context.Context, b Backend, pixels Value, ids []int, mask Value) (*MllamaVisionOutput, error) {
	s := b.Shape(pixels)
	bsz, n, tiles := s[0], s[1], s[2]
	bn, d, pt, pp := bsz*n, m.cfg.HiddenSize, m.tokens, m.pad

	x := m.patchEmbed(b, pixels, bn*tiles)       // [B·N·tiles, P, D]
	x = b.Reshape(x, bn, tiles, pt-clsTokens, d) // [B·N, tiles, P, D]
	x = m.PreTileEmbedding.Forward(b, x, ids)    // HF pre_tile_positional_embedding
	x = b.Reshape(x, bn*tiles, pt-clsTokens, d)  // [B·N·tiles, P, D]
	// apply_class_embedding: cat([class_embedding.expand(.., 1, D), x], 1).
	cls := b.Add(b.Const(tensor.New(bn*tiles, clsTokens, d)), b.Weight(m.ClassEmbedding)) // [B·N·tiles, 1, D]
	x = b.Concat(1, cls, x)                                                               // [B·N·tiles, P+1, D]
	x = b.Reshape(x, bn, tiles, pt, d)                                                    // [B·N, tiles, P+1, D]
	x = m.PositionEmbedding.Forward(b, x, ids)                                            // HF gated_positional_embedding
	x = m.LayerNormPre.Forward(b, x)                                                      // [B·N, tiles, P+1, D]
	if pp > pt {
		// F.pad: zero tokens appended to every tile up to a multiple of 8.
		x = b.Concat(2, x, b.Const(tensor.New(bn, tiles, pp-pt, d))) // [B·N, tiles, Pp, D]
	}
	x = b.Reshape(x, bn, tiles*pp, d) // [B·N, tiles·Pp, D]

	out := &MllamaVisionOutput{Local: make([]backend.Value, 0, len(m.Layers)+1)}
	heads := m.cfg.AttentionHeads
	for i := range m.Layers {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("vision: mllama stopped before layer %d: %w", i, err)
		}
		out.Local = append(out.Local, x) // HF hidden_states[i]: the input of layer i
		x = m.Layers[i].Forward(b, x, mask, heads, m.act)
	}
	out.Local = append(out.Local, x)

	x = m.LayerNormPost.Forward(b, x)          // [B·N, tiles·Pp, D]
	x = b.Reshape(x, bn, tiles, pp, d)         // [B·N, tiles, Pp, D]
	x = m.PostTileEmbedding.Forward(b, x, ids) // HF post_tile_positional_embedding
	x = b.Reshape(x, bn, tiles*pp, d)          // [B·N, tiles·Pp, D]
	out.Global = make([]backend.Value, 0, len(m.GlobalLayers)+1)
	for i := range m.GlobalLayers {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("vision: mllama stopped before global layer %d: %w", i, err)
		}
		out.Global = append(out.Global, x)
		x = m.GlobalLayers[i].Forward(b, x, mask, heads, m.act)
	}
	out.Global = append(out.Global, x)

	// Remove the padding tokens of every tile.
	unpad := func(v backend.Value, width int) backend.Value {
		v = b.Reshape(v, bn, tiles, pp, width) // [B·N, tiles, Pp, W]
		return b.Slice(v, 2, 0, pt)            // [B·N, tiles, P+1, W]
	}
	// torch.stack(intermediates, -1).reshape(..., D·L): channel L·c+j is
	// channel c of intermediate j (interleaved, not a block concat).
	idx := m.cfg.IntermediateLayersIndices
	parts := make([]backend.Value, len(idx))
	for j, k := range idx {
		parts[j] = b.Reshape(out.Local[k], bn, tiles*pp, d, 1) // [B·N, tiles·Pp, D, 1]
	}
	inter := b.Reshape(b.Concat(3, parts...), bn, tiles*pp, d*len(idx)) // [B·N, tiles·Pp, D·L]
	y := b.Concat(3, unpad(x, d), unpad(inter, d*len(idx)))             // [B·N, tiles, P+1, D·(1+L)]
	out.Output = b.Reshape(y, bsz, n, tiles, pt, d*(1+len(idx)))        // [B, N, tiles, P+1, Dout]
	return out, nil
}

// patchEmbed is MllamaVisionModel.patch_embedding (a bias-free stride-p
// conv) + flatten(2).transpose(1, 2) as a Linear over unfolded patches:
// pixels [B, N, tiles, C, S, S] viewed as [M, C, S, S] → [M, P, D].
func (m *MllamaVision) patchEmbed(b Backend, pixels Value, count int) Value {
	c, s, p, d := m.cfg.NumChannels, m.cfg.ImageSize, m.cfg.PatchSize, m.cfg.HiddenSize
	g := s / p
	x := b.Reshape(pixels, count, c, g, p, g, p) // [M, C, gy, ky, gx, kx]
	x = b.Transpose(x, 0, 2, 4, 1, 3, 5)         // [M, gy, gx, C, ky, kx]
	x = b.Reshape(x, count, g*g, c*p*p)          // [M, P, C·p·p], conv weight order
	w := b.Reshape(b.Weight(m.PatchEmbedding), d, c*p*p)
	return b.Linear(x, w, nil) // [M, P, D]
}

// tanhGate returns tanh(gate) as a [1] value.
func tanhGate(b Backend, gate *Tensor) Value {
	return b.Activation(b.Weight(gate), backend.ActTanh)
}

// Forward adds the gated tile embedding: x [B·N, tiles, T, D] + tanh(gate)·
// embedding[id].reshape(tiles, 1, D) → [B·N, tiles, T, D].
func (e *MllamaTileEmbedding) Forward(b Backend, x Value, ids []int) Value {
	s := b.Shape(x)
	emb := b.Embedding(b.Weight(e.Embedding), ids)   // [B·N, tiles·D]
	emb = b.Reshape(emb, s[0], s[1], 1, s[3])        // [B·N, tiles, 1, D]
	return b.Add(x, b.Mul(emb, tanhGate(b, e.Gate))) // broadcast over the tile's tokens
}

// Forward is MllamaPrecomputedPositionEmbedding.forward: x [B·N, tiles,
// P+1, D] + (1 - tanh(gate))·embedding + tanh(gate)·tile_embedding[id].
func (e *MllamaPositionEmbedding) Forward(b Backend, x Value, ids []int) Value {
	s := b.Shape(x)
	g := tanhGate(b, e.Gate)                                                     // [1]
	oneMinus := b.Add(b.Scale(g, -1), b.Const(tensor.FromData([]float32{1}, 1))) // 1 - tanh(gate)
	x = b.Add(x, b.Mul(b.Weight(e.Embedding), oneMinus))                         // + [P+1, D]
	tile := b.Embedding(b.Weight(e.TileEmbedding), ids)                          // [B·N, tiles·(P+1)·D]
	tile = b.Reshape(tile, s[0], s[1], s[2], s[3])                               // [B·N, tiles, P+1, D]
	return b.Add(x, b.Mul(tile, g))
}

// Forward is MllamaVisionEncoderLayer.forward: x [M, T, D] with an
// additive mask [M, 1, T, T] → [M, T, D]. A gated layer scales both
// residual branches by tanh(gate).
func (l *MllamaVisionLayer) Forward(b Backend, x, mask Value, heads int, act Act) Value {
	h := l.Attn.Forward(b, l.InputNorm.Forward(b, x), mask, heads) // [M, T, D]
	if l.Gates != nil {
		h = b.Mul(h, tanhGate(b, l.Gates.Attn))
	}
	x = b.Add(x, h)
	h = l.MLP.Forward(b, l.PostAttnNorm.Forward(b, x), act) // [M, T, D]
	if l.Gates != nil {
		h = b.Mul(h, tanhGate(b, l.Gates.FFN))
	}
	return b.Add(x, h)
}

// Forward is MllamaVisionAttention.forward (eager): x [M, T, D], mask
// [M, 1, T, T] → [M, T, D]; scale Dh^-½.
func (a *MllamaVisionAttention) Forward(b Backend, x, mask Value, heads int) Value {
	s := b.Shape(x)
	mm, t, d := s[0], s[1], s[2]
	dh := d / heads
	split := func(v backend.Value) backend.Value {
		v = b.Reshape(v, mm, t, heads, dh) // [M, T, H, Dh]
		return b.Transpose(v, 0, 2, 1, 3)  // [M, H, T, Dh]
	}
	qkv := backend.Linears(b, x, []backend.Value{b.Weight(a.Q), b.Weight(a.K), b.Weight(a.V)}, nil) // [M, T, D] ×3
	q, k, v := split(qkv[0]), split(qkv[1]), split(qkv[2])
	o := b.Attention(q, k, v, backend.AttnOpts{Scale: float32(1 / math.Sqrt(float64(dh))), Mask: mask}) // [M, H, T, Dh]
	o = b.Reshape(b.Transpose(o, 0, 2, 1, 3), mm, t, d)                                                 // [M, T, D]
	return b.Linear(o, b.Weight(a.O), nil)
}

// MllamaAspectRatioMask is HF's _prepare_aspect_ratio_attention_mask for
// arMask [B][N][tiles] → additive [B·N, 1, tiles·Pp, tiles·Pp]. A token is
// "padding" when its tile is masked or its index within the tile is ≥
// realTokens; the mask is the outer product of the is-padding vector times
// finfo(float32).min, so only (padding query, padding key) pairs are
// masked and real queries do attend to padded keys. As in HF, when
// padded == realTokens (no padding) every token counts as padding (its
// `[-0:]` slice covers the whole tile) and every pair is masked alike.
func MllamaAspectRatioMask(arMask [][][]int, realTokens, padded int) *Tensor {
	var rows [][]int
	for _, s := range arMask {
		rows = append(rows, s...)
	}
	if len(rows) == 0 {
		panic("vision: MllamaAspectRatioMask: empty aspect ratio mask")
	}
	tiles := len(rows[0])
	l := tiles * padded
	out := tensor.New(len(rows), 1, l, l)
	minF := float32(-math.MaxFloat32)
	isPad := make([]bool, l)
	for r, tm := range rows {
		for t := 0; t < tiles; t++ {
			for i := 0; i < padded; i++ {
				isPad[t*padded+i] = tm[t] == 0 || i >= realTokens || padded == realTokens
			}
		}
		plane := out.Data[r*l*l : (r+1)*l*l]
		for i := 0; i < l; i++ {
			if !isPad[i] {
				continue
			}
			for j := 0; j < l; j++ {
				if isPad[j] {
					plane[i*l+j] = minF
				}
			}
		}
	}
	return out
}
