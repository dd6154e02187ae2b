package fovea

import (
	"fmt"

	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/quant"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// weightPart is one tagged weight struct (or one bare tensor) of a loaded
// model with the checkpoint prefix its names are relative to (the full
// name, for a bare tensor).
type weightPart struct {
	prefix string
	model  any
}

// decoderParts lists a decoder's weights: embeddings, final norm, LM head
// (the same tensor as the embeddings when tied) and every layer.
func decoderParts(d *decoder.Model, prefix, head string) []weightPart {
	parts := []weightPart{
		{prefix + "embed_tokens.weight", d.EmbedTokens},
		{prefix + "norm.weight", d.Norm},
		{head, d.LMHead},
	}
	for i, l := range d.Layers {
		parts = append(parts, weightPart{fmt.Sprintf("%slayers.%d.", prefix, i), l})
	}
	return parts
}

// namedWeights lists every weight of an architecture under its checkpoint
// name (a tied tensor appears under each of its names).
func namedWeights(a architecture) ([]quant.NamedTensor, error) {
	var out []quant.NamedTensor
	for _, p := range a.weightParts() {
		if t, ok := p.model.(*tensor.Tensor); ok {
			if t != nil {
				out = append(out, quant.NamedTensor{Name: p.prefix, W: t})
			}
			continue
		}
		ts, err := quant.TensorsOf(p.prefix, p.model)
		if err != nil {
			return nil, err
		}
		out = append(out, ts...)
	}
	return out, nil
}

// Quantization selects how Load stores the Linear weights for inference.
type Quantization int

const (
	// F32 keeps every weight in float32 (exact; the default). The Linear
	// weights (the names Q8_0 compresses) are packed once for the sgemm
	// kernels into one huge-page block; every product
	// reads the packed copy and the row-major one is released after
	// loading, so the model holds one float32 copy.
	F32 Quantization = iota
	// Q8_0 stores attention/MLP projections and the LM head as 8-bit
	// blocks of 32 with a float32 scale (internal/quant): about 3.6× less
	// memory traffic per decoded token, at a small loss of accuracy. The
	// float32 copies of the quantized weights are released after loading.
	Q8_0
	// F32Compact keeps the float32 weights as the checkpoint stores them,
	// with no packed copy: least memory, slower prefill (weights are
	// repacked on every large multiplication).
	F32Compact
)

func (q Quantization) String() string {
	switch q {
	case F32:
		return "f32"
	case Q8_0:
		return "q8_0"
	case F32Compact:
		return "f32-compact"
	}
	return fmt.Sprintf("Quantization(%d)", int(q))
}

// prepareWeights builds the eager backend's prepared-weight table for q:
// packed float32 panels (F32) or Q8_0 blocks of the Linear weights, or
// nothing (F32Compact).
func prepareWeights(a architecture, q Quantization) (map[*tensor.Tensor]backend.PreparedMatrix, error) {
	switch q {
	case F32Compact:
		return nil, nil
	case F32, Q8_0:
	default:
		return nil, fmt.Errorf("unknown quantization %v", q)
	}
	ts, err := namedWeights(a)
	if err != nil {
		return nil, err
	}
	if q == Q8_0 {
		return quant.QuantizeModel(ts)
	}
	var lin []*tensor.Tensor
	for _, nt := range ts {
		if quant.Quantizable(nt.Name) { // the same Linear weights Q8_0 compresses
			lin = append(lin, nt.W)
		}
	}
	return backend.PrepareF32(lin)
}

// releasePrepared drops the float32 data of every weight that has a
// prepared form (packed panels or Q8_0 blocks). The eager backend reads a
// prepared weight only through the table (Linear, and Row for a tied
// embedding), and a loaded Model exposes no weights, so the row-major
// copy would only double the memory: after it, a model holds one copy of
// each Linear weight (F32: the packed panels; Q8_0: the blocks). The
// tensors stay as the table's keys, shapes intact.
func releasePrepared(table map[*tensor.Tensor]backend.PreparedMatrix) {
	for t := range table {
		t.Data = nil
	}
}
