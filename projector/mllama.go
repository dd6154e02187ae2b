package projector

import (
	"fmt"
)

// mllamaVisionDims is the rank of the Mllama vision output
// [B, N, tiles, P, Dv].
const mllamaVisionDims = 5

// Mllama is MllamaForConditionalGeneration.multi_modal_projector: one
// nn.Linear from vision_output_dim to the text width. Weight names are
// relative to Prefix ("multi_modal_projector.weight" / ".bias").
type Mllama struct {
	Dense `weight:""`
}

// NewMllama allocates the projector for cfg: [D, Dv] weight and [D] bias.
func NewMllama(cfg *MllamaConfig) *Mllama {
	return &Mllama{Dense: newDense(cfg.VisionConfig.VisionOutputDim, cfg.TextConfig.HiddenSize)}
}

// Forward maps the vision output x [B, N, tiles, P, Dv] to the
// cross_attention_states [B, N·tiles·P, D] (image-major, then tile, then
// patch), as HF's projector(...).reshape(-1, P, D) viewed per sequence.
func (p *Mllama) Forward(b Backend, x Value) Value {
	s := b.Shape(x)
	if len(s) != mllamaVisionDims {
		panic(fmt.Sprintf("projector: Mllama.Forward: vision output %v, want [B, N, tiles, P, Dv]", s))
	}
	y := p.Dense.Forward(b, x)                    // [B, N, tiles, P, D]
	return b.Reshape(y, s[0], s[1]*s[2]*s[3], -1) // [B, N·tiles·P, D]
}
