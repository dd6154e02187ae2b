package projector

import (
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// The types the projectors are written against: aliases of the same types
// in package decoder (decoder.Tensor and projector.Tensor are one type).
type (
	// Tensor is a dense row-major float32 array (Shape outermost first).
	Tensor = tensor.Tensor
	// Backend is the set of operations each Forward is written against.
	Backend = backend.Backend
	// Value is a tensor as a Backend sees it (a *Tensor for the eager one).
	Value = backend.Value
	// LlavaConfig is a LlavaConfig with HF's keys: vision_config,
	// text_config and the glue fields (fovea.LlavaConfig is the same type).
	LlavaConfig = config.Llava
	// MllamaConfig is an MllamaConfig with HF's keys (fovea.MllamaConfig
	// is the same type).
	MllamaConfig = config.Mllama
)
