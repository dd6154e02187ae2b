package crossattn

import (
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// The types the layers are written against: aliases of the same types in
// package decoder (decoder.Tensor and crossattn.Tensor are one type).
type (
	// Tensor is a dense row-major float32 array (Shape outermost first).
	Tensor = tensor.Tensor
	// Backend is the set of operations each Forward is written against.
	Backend = backend.Backend
	// Value is a tensor as a Backend sees it (a *Tensor for the eager one).
	Value = backend.Value
	// Config is an MllamaTextConfig with HF's keys (see DefaultConfig,
	// TinyConfig); Config.AsLlama is the decoder.Config of its
	// self-attention layers.
	Config = config.MllamaText
)

// DefaultConfig is transformers' MllamaTextConfig() defaults.
func DefaultConfig() Config { return config.DefaultMllamaText() }

// TinyConfig is the text config of testdata/mllama_tiny.
func TinyConfig() Config { return config.MllamaTiny().TextConfig }
