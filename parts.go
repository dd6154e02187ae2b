package fovea

import (
	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/fovea-ml/fovea/projector"
	"github.com/fovea-ml/fovea/tokenizer"
	"github.com/fovea-ml/fovea/vision"
)

// ForTraining makes Load keep every weight as the checkpoint stores it:
// row-major float32, with no packed or quantized table (the same as
// WithQuantization(F32Compact)). A trainer updates these tensors in place,
// and inference on the same Model then sees the updates. A later
// WithQuantization overrides it.
func ForTraining() Option { return func(o *options) { o.quant = F32Compact } }

// Parts are the layers of a loaded model, for training (package train)
// and for programs that compose their own pipeline from the layer
// packages. The pointers are the Model's own layers, not copies: a
// change to their weights is a change to the Model. Fields that an
// architecture does not have are nil.
type Parts struct {
	// Kind is the architecture.
	Kind Kind
	// Decoder is the language model (LLaVA, Mllama, Llama); its layer
	// list holds *crossattn.Layer entries for Mllama.
	Decoder *decoder.Model
	// CLIP is the vision tower of LLaVA (and of a CLIP folder).
	CLIP *vision.CLIPVision
	// Projector is LLaVA's multi_modal_projector; ProjectorConfig says
	// which CLIP layers feed it (projector.SelectFeatures).
	Projector       *projector.Projector
	ProjectorConfig projector.Config
	// MllamaVision and MllamaProjector are Mllama's tiled vision encoder
	// and its multi_modal_projector.
	MllamaVision    *vision.MllamaVision
	MllamaProjector *projector.Mllama
	// ImageToken is the image placeholder id of the prompt
	// (image_token_index); ImageTokens is the number of decoder positions
	// one LLaVA image fills (1 for Mllama, whose images enter through
	// cross-attention).
	ImageToken, ImageTokens int
	// Tokenizer is the folder's tokenizer, nil when it has none. Prompts
	// are rendered with Model.RenderChat and encoded with Model.EncodeChat
	// (the folder's chat template), as inference does.
	Tokenizer *tokenizer.Tokenizer
	// Weights lists every tensor under its HF checkpoint name, in the order
	// Save writes them; a tied tensor appears once, under its first name.
	Weights []NamedTensor
}

// NamedTensor is one weight of a model under its checkpoint name.
type NamedTensor struct {
	Name   string
	Tensor *Tensor
}

// Parts returns the model's layers (see Parts).
func (m *Model) Parts() Parts {
	p := Parts{Kind: m.Kind(), Tokenizer: m.tok, Decoder: m.impl.textDecoder()}
	switch a := m.impl.(type) {
	case *llava:
		p.CLIP, p.Projector, p.ProjectorConfig = a.tower, a.proj, a.pcfg
		p.ImageToken, p.ImageTokens = a.cfg.ImageTokenIndex, a.cfg.ImageFeatureTokens()
	case *mllama:
		p.MllamaVision, p.MllamaProjector = a.tower, a.proj
		p.ImageToken, p.ImageTokens = a.cfg.ImageTokenIndex, 1
	case *clipVision:
		p.CLIP = a.tower
	}
	ts, _ := namedWeights(m.impl) // the layer structs are well-formed once loaded
	seen := map[*tensor.Tensor]bool{}
	for _, nt := range ts {
		if seen[nt.W] {
			continue
		}
		seen[nt.W] = true
		p.Weights = append(p.Weights, NamedTensor{Name: nt.Name, Tensor: nt.W})
	}
	return p
}
