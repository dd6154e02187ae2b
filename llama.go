package fovea

import (
	"context"
	"errors"
	"image"

	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/weights"
)

// llamaPrefix is where LlamaForCausalLM keeps the decoder body; lm_head
// sits at the root.
const llamaPrefix = "model."

// llama is a text-only LlamaForCausalLM.
type llama struct {
	dec *decoder.Model
}

func loadLlama(_ context.Context, lc *loadContext) (architecture, error) {
	dec, err := decoder.New(lc.cfg.Llama)
	if err != nil {
		return nil, err
	}
	if err := dec.Load(lc.src, llamaPrefix, weights.ReportAll()); err != nil {
		return nil, err
	}
	return &llama{dec: dec}, nil
}

func (l *llama) kind() Kind                  { return KindLlama }
func (l *llama) textDecoder() *decoder.Model { return l.dec }

func (l *llama) preprocess([]image.Image) (*Pixels, error) {
	return nil, errors.New("fovea: a llama model takes no images")
}

func (l *llama) prefill(ctx context.Context, b backend.Backend, ids []int, px *Pixels) (*prefilled, error) {
	if px != nil {
		return nil, errors.New("fovea: a llama model takes no images")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e, err := embedIDs(b, l.dec, ids) // [1, T, D]
	if err != nil {
		return nil, err
	}
	return &prefilled{ids: ids, embeds: e, state: l.dec.NewState(1)}, nil
}

func (l *llama) weightParts() []weightPart {
	return decoderParts(l.dec, llamaPrefix, "lm_head.weight")
}
