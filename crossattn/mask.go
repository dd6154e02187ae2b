package crossattn

import (
	"errors"
	"fmt"
	"math"

	"github.com/fovea-ml/fovea/internal/tensor"
)

// tokenMaskDims is the rank of HF's cross_attention_mask [B, T, N, tiles].
const tokenMaskDims = 4

// TokenMask is HF's cross_attention_mask as MllamaProcessor builds it:
// Data[((b·T + t)·N + n)·Tiles + j] is 1 when token t of sequence b sees
// tile j of image n, else 0.
type TokenMask struct {
	Batch, Tokens, Images, Tiles int
	Data                         []int
}

// Validate checks that every dimension is positive, that Data holds
// exactly Batch·Tokens·Images·Tiles values, and that each is 0 or 1. Run
// it on a mask from outside before Dense, At or Row index it.
func (m *TokenMask) Validate() error {
	n := 1
	for _, d := range []int{m.Batch, m.Tokens, m.Images, m.Tiles} {
		if d < 1 {
			return fmt.Errorf("crossattn: cross_attention_mask [%d, %d, %d, %d] has an empty dimension", m.Batch, m.Tokens, m.Images, m.Tiles)
		}
		if n > math.MaxInt/d {
			return fmt.Errorf("crossattn: cross_attention_mask [%d, %d, %d, %d] is too large", m.Batch, m.Tokens, m.Images, m.Tiles)
		}
		n *= d
	}
	if len(m.Data) != n {
		return fmt.Errorf("crossattn: cross_attention_mask [%d, %d, %d, %d] needs %d values, Data holds %d",
			m.Batch, m.Tokens, m.Images, m.Tiles, n, len(m.Data))
	}
	for i, v := range m.Data {
		if v != 0 && v != 1 {
			return fmt.Errorf("crossattn: cross_attention_mask value %d at flat index %d is not 0 or 1", v, i)
		}
	}
	return nil
}

// At reports whether token t of sequence b sees tile j of image n.
func (m *TokenMask) At(b, t, n, j int) bool {
	return m.Data[((b*m.Tokens+t)*m.Images+n)*m.Tiles+j] != 0
}

// span is one image's visible token range [start, end).
type span struct{ start, end int }

// imageSpans is HF's get_cross_attention_token_mask for one sequence: an
// image is visible from its own token up to (not including) the next image
// token, the last image to the end; a run of consecutive image tokens all
// extend to the end of the run's following span.
func imageSpans(ids []int, imageToken int) []span {
	var locs []int
	for i, id := range ids {
		if id == imageToken {
			locs = append(locs, i)
		}
	}
	spans := make([]span, len(locs))
	for i, l := range locs {
		end := len(ids)
		if i+1 < len(locs) {
			end = locs[i+1]
		}
		spans[i] = span{l, end}
	}
	// Walking backwards, an image whose span is only its own token (the
	// next token is another image) inherits the following span's end.
	lastEnd := len(ids)
	for i := len(spans) - 1; i >= 0; i-- {
		if spans[i].start == spans[i].end-1 {
			spans[i].end = lastEnd
		}
		lastEnd = spans[i].end
	}
	return spans
}

// BuildTokenMask computes cross_attention_mask from the prompts' image
// tokens (HF get_cross_attention_token_mask followed by
// convert_sparse_cross_attention_mask_to_dense). ids[b] is sequence b;
// numTiles[b][i] is the real tile count of the i-th image of sequence b
// (vision.MllamaImages.NumTiles); maxTiles is the tiles dimension
// (max_image_tiles). Every sequence must hold exactly one image token per
// image; sequences may differ in length (T is the longest).
func BuildTokenMask(ids [][]int, imageToken int, numTiles [][]int, maxTiles int) (*TokenMask, error) {
	if len(ids) == 0 {
		return nil, errors.New("crossattn: no sequences")
	}
	if len(numTiles) != len(ids) {
		return nil, fmt.Errorf("crossattn: tile counts for %d sequences, but %d sequences", len(numTiles), len(ids))
	}
	if maxTiles < 1 {
		return nil, fmt.Errorf("crossattn: max tiles %d must be positive", maxTiles)
	}
	t, n := 0, 0
	all := make([][]span, len(ids))
	for b, seq := range ids {
		t = max(t, len(seq))
		all[b] = imageSpans(seq, imageToken)
		switch k, imgs := len(all[b]), len(numTiles[b]); {
		case k == 0 && imgs > 0:
			return nil, fmt.Errorf("crossattn: sequence %d has %d image(s) but no image token (id %d)", b, imgs, imageToken)
		case k != imgs:
			return nil, fmt.Errorf("crossattn: sequence %d has %d image tokens (id %d) but %d image(s); each image needs exactly one image token", b, k, imageToken, imgs)
		}
		for i, nt := range numTiles[b] {
			if nt < 1 || nt > maxTiles {
				return nil, fmt.Errorf("crossattn: sequence %d image %d has %d tiles, outside 1..%d", b, i, nt, maxTiles)
			}
		}
		n = max(n, len(all[b]))
	}
	if n == 0 {
		return nil, errors.New("crossattn: no image tokens in any sequence")
	}
	m := &TokenMask{Batch: len(ids), Tokens: t, Images: n, Tiles: maxTiles, Data: make([]int, len(ids)*t*n*maxTiles)}
	for b, spans := range all {
		for i, sp := range spans {
			for tok := sp.start; tok < min(sp.end, t); tok++ {
				for j := 0; j < numTiles[b][i]; j++ {
					m.Data[((b*t+tok)*n+i)*maxTiles+j] = 1
				}
			}
		}
	}
	return m, nil
}

// TokenMaskFromInt64 wraps HF's cross_attention_mask tensor (I64
// [B, T, N, tiles] of 0/1), checking its shape and values.
func TokenMaskFromInt64(vals []int64, shape []int) (*TokenMask, error) {
	if len(shape) != tokenMaskDims || tensor.Numel(shape) != len(vals) {
		return nil, fmt.Errorf("crossattn: cross_attention_mask has shape %v and %d values, want [B, T, N, tiles]", shape, len(vals))
	}
	for _, d := range shape {
		if d < 1 {
			return nil, fmt.Errorf("crossattn: cross_attention_mask has an empty dimension: %v", shape)
		}
	}
	m := &TokenMask{Batch: shape[0], Tokens: shape[1], Images: shape[2], Tiles: shape[3], Data: make([]int, len(vals))}
	for i, v := range vals {
		if v != 0 && v != 1 {
			return nil, fmt.Errorf("crossattn: cross_attention_mask value %d at flat index %d is not 0 or 1", v, i)
		}
		m.Data[i] = int(v)
	}
	return m, nil
}

// Dense is HF's _prepare_cross_attention_mask for image states of
// `patches` tokens per tile: the additive mask [B, 1, T, N·tiles·patches]
// (0 where visible, finfo(float32).min elsewhere) and the row mask
// [B, 1, T, 1] (full_text_row_masked_out_mask: 1 when the token sees any
// tile). A row that sees nothing is multiplied by its row mask 0, so its
// additive mask becomes all zero: such tokens attend uniformly to every
// image token (HF behaviour, transformers issue #39379).
func (m *TokenMask) Dense(patches int) (mask, rowMask *Tensor) {
	nv := m.Images * m.Tiles * patches
	mask = tensor.New(m.Batch, 1, m.Tokens, nv)
	rowMask = tensor.New(m.Batch, 1, m.Tokens, 1)
	minF := float32(-math.MaxFloat32)
	for b := 0; b < m.Batch; b++ {
		for t := 0; t < m.Tokens; t++ {
			row := mask.Data[(b*m.Tokens+t)*nv : (b*m.Tokens+t+1)*nv]
			sees := false
			for n := 0; n < m.Images; n++ {
				for j := 0; j < m.Tiles; j++ {
					seen := m.At(b, t, n, j)
					sees = sees || seen
					if !seen {
						off := (n*m.Tiles + j) * patches
						for p := 0; p < patches; p++ {
							row[off+p] = minF
						}
					}
				}
			}
			if sees {
				rowMask.Data[b*m.Tokens+t] = 1
			} else {
				clear(row) // min · 0
			}
		}
	}
	return mask, rowMask
}

// Row returns sequence b's mask as a new TokenMask of batch 1.
func (m *TokenMask) Row(b int) *TokenMask {
	inner := m.Tokens * m.Images * m.Tiles
	return &TokenMask{Batch: 1, Tokens: m.Tokens, Images: m.Images, Tiles: m.Tiles,
		Data: append([]int(nil), m.Data[b*inner:(b+1)*inner]...)}
}
