package vision

import (
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/fovea-ml/fovea/internal/weights"
)

// The types the towers are written against: aliases of the same types in
// package decoder (decoder.Tensor and vision.Tensor are one type).
// fovea.EagerBackend returns the inference backend, fovea.NewTensor makes
// tensors and fovea.OpenSafetensors a WeightSource.
type (
	// Tensor is a dense row-major float32 array (Shape outermost first).
	Tensor = tensor.Tensor
	// Backend is the set of operations each Forward is written against.
	Backend = backend.Backend
	// Value is a tensor as a Backend sees it (a *Tensor for the eager one).
	Value = backend.Value
	// Act names an elementwise activation (decoder.ParseAct).
	Act = backend.Act
	// WeightSource is what the Load functions read.
	WeightSource = weights.Source
	// CLIPConfig is a CLIPVisionConfig with HF's keys (see
	// DefaultCLIPConfig, CLIPViTL14_336Config, TinyCLIPConfig).
	CLIPConfig = config.CLIPVision
	// MllamaConfig is an MllamaVisionConfig with HF's keys (see
	// DefaultMllamaConfig, TinyMllamaConfig).
	MllamaConfig = config.MllamaVision
)

// DefaultCLIPConfig is transformers' CLIPVisionConfig() defaults (ViT-B/32).
func DefaultCLIPConfig() CLIPConfig { return config.DefaultCLIPVision() }

// CLIPViTB16Config is openai/clip-vit-base-patch16's vision config.
func CLIPViTB16Config() CLIPConfig { return config.CLIPViTB16() }

// CLIPViTL14_336Config is openai/clip-vit-large-patch14-336's vision config
// (LLaVA-1.5's tower).
func CLIPViTL14_336Config() CLIPConfig { return config.CLIPViTL14_336() }

// TinyCLIPConfig is the shape of testdata/clip_tiny.
func TinyCLIPConfig() CLIPConfig { return config.CLIPTiny() }

// DefaultMllamaConfig is transformers' MllamaVisionConfig() defaults
// (Llama-3.2-11B-Vision's tower).
func DefaultMllamaConfig() MllamaConfig { return config.DefaultMllamaVision() }

// TinyMllamaConfig is the vision config of testdata/mllama_tiny.
func TinyMllamaConfig() MllamaConfig { return config.MllamaTiny().VisionConfig }
