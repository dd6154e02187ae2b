package crossattn

import (
	"errors"
	"fmt"

	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// TrainState is a cross-attention layer's state for whole-sequence
// training on the graph backend: the image keys and values are nodes of
// the graph (computed from the projector output, so gradients reach the
// projector and the vision encoder), and the masks are graph inputs that
// a trainer rebinds for every batch of a shape bucket. It is what
// SetTrainImages puts into a decoder.NewTrainState.
type TrainState struct {
	k, v     Value // [B, KVH, Nv, Dh]
	mask     Value // [B, 1, T, Nv] additive
	rows     Value // [B, T, 1] MLP-branch row mask
	attnRows Value // [B, T, 1] attention-branch row mask
}

// TrainMasks are the per-batch mask inputs of SetTrainImages.
type TrainMasks struct {
	// Mask is the additive mask [B, 1, T, Nv] (TokenMask.Dense).
	Mask *Tensor
	// Rows is HF's full_text_row_masked_out_mask as [B, T, 1].
	Rows *Tensor
	// AttnRows multiplies the attention branch [B, T, 1]: 1 for every
	// token of a sequence that has images (HF mode) or Rows (Strict), and
	// 0 for every token of a sequence without images, so that such a
	// sequence passes the layer unchanged, as HF's text-only forward skips
	// the cross-attention layers.
	AttnRows *Tensor
}

// BatchMasks builds the masks of a training batch of B sequences of T
// tokens with room for `images` images of `tiles` tiles of `patches`
// tokens each: rows[b] is sequence b's TokenMask (batch 1, T tokens, at
// most `images` images; nil for a sequence without images). Image slots a
// sequence does not use are masked; their image states should be zero.
// HF's rule for tokens that see no image (an all-zero mask row: uniform
// attention) then spreads over the unused slots too; in HF mode such rows
// exist only before a sequence's first image token.
func BatchMasks(rows []*TokenMask, tokens, images, tiles, patches int, strict bool) (*TrainMasks, error) {
	if len(rows) == 0 || tokens < 1 || images < 1 || tiles < 1 || patches < 1 {
		return nil, fmt.Errorf("crossattn: BatchMasks of %d sequences, %d tokens, %d images × %d tiles × %d patches",
			len(rows), tokens, images, tiles, patches)
	}
	all := &TokenMask{Batch: len(rows), Tokens: tokens, Images: images, Tiles: tiles,
		Data: make([]int, len(rows)*tokens*images*tiles)}
	has := make([]bool, len(rows))
	for b, tm := range rows {
		if tm == nil {
			continue
		}
		if tm.Batch != 1 || tm.Tokens != tokens || tm.Images > images || tm.Tiles != tiles {
			return nil, fmt.Errorf("crossattn: sequence %d has a mask [%d, %d, %d, %d], want [1, %d, ≤%d, %d]",
				b, tm.Batch, tm.Tokens, tm.Images, tm.Tiles, tokens, images, tiles)
		}
		has[b] = tm.Images > 0
		for t := 0; t < tokens; t++ {
			for n := 0; n < tm.Images; n++ {
				for j := 0; j < tiles; j++ {
					if tm.At(0, t, n, j) {
						all.Data[((b*tokens+t)*images+n)*tiles+j] = 1
					}
				}
			}
		}
	}
	mask, rowMask := all.Dense(patches) // [B, 1, T, Nv], [B, 1, T, 1]
	m := &TrainMasks{Mask: mask, Rows: rowMask.Reshape(len(rows), tokens, 1), AttnRows: tensor.New(len(rows), tokens, 1)}
	for b := range rows {
		for t := 0; t < tokens; t++ {
			i := b*tokens + t
			switch {
			case !has[b]:
			case strict:
				m.AttnRows.Data[i] = m.Rows.Data[i]
			default:
				m.AttnRows.Data[i] = 1
			}
		}
	}
	return m, nil
}

// TrainInputs are the graph values of the masks, made once per graph
// (b.Const of a TrainMasks) and rebound per batch with SetConst.
type TrainInputs struct {
	Mask, Rows, AttnRows Value
}

// SetTrainImages fills st, a decoder.NewTrainState, for training: every
// cross-attention layer of m computes its image keys and values from
// states [B, Nv, D] (a graph value, e.g. the projector output) and reads
// the masks in. Layers without images in a TrainState do not exist: every
// cross-attention layer runs (a sequence without images is passed through
// by AttnRows and Rows of 0).
func SetTrainImages(b Backend, m *decoder.Model, st *decoder.State, states Value, in TrainInputs) error {
	if m == nil || st == nil || states == nil || in.Mask == nil || in.Rows == nil || in.AttnRows == nil {
		return errors.New("crossattn: SetTrainImages needs a model, a state, image states and three masks")
	}
	s := b.Shape(states)
	if d := m.Config().HiddenSize; len(s) != statesDims || s[2] != d || s[0] != st.Batch() {
		return fmt.Errorf("crossattn: cross_attention_states %v, want [%d, Nv, %d]", s, st.Batch(), d)
	}
	if ms := b.Shape(in.Mask); len(ms) != 4 || ms[0] != s[0] || ms[3] != s[1] {
		return fmt.Errorf("crossattn: mask %v for cross_attention_states %v", ms, s)
	}
	if len(st.Layers) != len(m.Layers) {
		return fmt.Errorf("crossattn: state has %d layer states for %d layers", len(st.Layers), len(m.Layers))
	}
	found := false
	for i, l := range m.Layers {
		cl, ok := l.(*Layer)
		if !ok {
			continue
		}
		k, v := cl.Attn.ImageKV(b, states)
		st.Layers[i] = &TrainState{k: k, v: v, mask: in.Mask, rows: in.Rows, attnRows: in.AttnRows}
		found = true
	}
	if !found {
		return errors.New("crossattn: the model has no cross-attention layers")
	}
	return nil
}
