package crossattn

import (
	"errors"
	"fmt"

	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// statesDims is the rank of cross_attention_states [B, Nv, D].
const statesDims = 3

// Options select the masking behaviour of SetImages.
type Options struct {
	// Strict gives tokens that see no image (those before the first image
	// token) no image information at all: their cross-attention output is
	// zeroed as well as their MLP branch, so those rows leave the layer
	// unchanged. The default (false) reproduces HF exactly: such rows get
	// an all-zero additive mask, attend uniformly to every image token and
	// add that attention output; only their MLP branch is masked.
	Strict bool
}

// State is a cross-attention layer's run state: the image keys and values
// (computed once per image set by SetImages and reused by every decode
// step) and the per-token masks. The zero State has no images.
type State struct {
	batch   int
	k, v    backend.Value  // [B, KVH, Nv, Dh]; k after k_norm
	mask    *tensor.Tensor // [B, 1, Tm, Nv] additive (shared read-only by all layers)
	rowMask *tensor.Tensor // [B, 1, Tm, 1]
	strict  bool
}

// HasImages reports whether SetImages has filled the state.
func (s *State) HasImages() bool { return s != nil && s.k != nil }

// rowsFor returns the mask rows of the new tokens at positions pos:
// additive [B, 1, T, Nv] and row mask [B, T, 1]. A position past the
// mask's last row uses the last row, as HF's generate extends
// cross_attention_mask by repeating its last row at every step.
func (s *State) rowsFor(pos []int) (mask, rows *Tensor) {
	bsz, tm, nv := s.mask.Shape[0], s.mask.Shape[2], s.mask.Shape[3]
	t := len(pos)
	mask = tensor.New(bsz, 1, t, nv)
	rows = tensor.New(bsz, t, 1)
	for b := 0; b < bsz; b++ {
		for i, p := range pos {
			r := min(p, tm-1)
			src := (b*tm + r) * nv
			copy(mask.Data[(b*t+i)*nv:(b*t+i+1)*nv], s.mask.Data[src:src+nv])
			rows.Data[b*t+i] = s.rowMask.Data[b*tm+r]
		}
	}
	return mask, rows
}

// SetImages puts one image set into st: every cross-attention layer of m
// computes its image keys and values from states [B, Nv, D] (the
// projector output, Nv = N·tiles·P, image-major then tile then patch) and
// keeps them, with the masks built from mask, until ClearImages or the
// next SetImages. mask is cross_attention_mask [B, T, N, tiles]; T is the
// prompt length, and later positions reuse its last row.
func SetImages(b Backend, m *decoder.Model, st *decoder.State, states Value, mask *TokenMask, opts Options) error {
	if m == nil || st == nil || mask == nil {
		return errors.New("crossattn: SetImages needs a model, a state and a mask")
	}
	if err := mask.Validate(); err != nil {
		return err
	}
	s := b.Shape(states)
	d := m.Config().HiddenSize
	if len(s) != statesDims || s[2] != d {
		return fmt.Errorf("crossattn: cross_attention_states %v, want [B, Nv, %d]", s, d)
	}
	if s[0] != st.Batch() || mask.Batch != st.Batch() {
		return fmt.Errorf("crossattn: batch mismatch: state %d, cross_attention_states %d, mask %d", st.Batch(), s[0], mask.Batch)
	}
	groups := mask.Images * mask.Tiles
	if groups == 0 || s[1]%groups != 0 || s[1] == 0 {
		return fmt.Errorf("crossattn: %d image tokens do not split into %d images × %d tiles", s[1], mask.Images, mask.Tiles)
	}
	if len(st.Layers) != len(m.Layers) {
		return fmt.Errorf("crossattn: state has %d layer states for %d layers", len(st.Layers), len(m.Layers))
	}
	dense, rows := mask.Dense(s[1] / groups)
	found := false
	for i, l := range m.Layers {
		cl, ok := l.(*Layer)
		if !ok {
			continue
		}
		ls, ok := st.Layers[i].(*State)
		if !ok {
			return fmt.Errorf("crossattn: layer %d state is %T, want *crossattn.State", i, st.Layers[i])
		}
		ls.k, ls.v = cl.Attn.ImageKV(b, states) // once per image set
		ls.mask, ls.rowMask, ls.strict = dense, rows, opts.Strict
		found = true
	}
	if !found {
		return errors.New("crossattn: the model has no cross-attention layers")
	}
	return nil
}

// ClearImages removes the images from every cross-attention layer state
// in st; the layers then pass their input through unchanged.
func ClearImages(st *decoder.State) {
	if st == nil {
		return
	}
	for _, ls := range st.Layers {
		if s, ok := ls.(*State); ok {
			*s = State{batch: s.batch}
		}
	}
}
