package decoder

import (
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/fovea-ml/fovea/internal/weights"
)

// The types this package's layers are written against. They are aliases:
// decoder.Tensor, vision.Tensor and fovea.Tensor are one type, and so on,
// so values pass between the packages unchanged. fovea.EagerBackend
// returns the inference backend and fovea.NewTensor makes tensors.
type (
	// Tensor is a dense row-major float32 array: Shape (outermost first)
	// and Data (len = product of Shape).
	Tensor = tensor.Tensor
	// Backend is the set of operations every layer's Forward is written
	// against (eager inference, or the training graph).
	Backend = backend.Backend
	// Value is a tensor as a Backend sees it: a *Tensor for the eager
	// backend.
	Value = backend.Value
	// KVCache is one attention layer's key/value cache.
	KVCache = backend.KVCache
	// RoPE holds rotary-embedding frequencies (see NewRoPE).
	RoPE = backend.RoPE
	// Act names an elementwise activation (see ParseAct).
	Act = backend.Act
	// Config is a Llama text config with HF's config.json keys (see
	// DefaultConfig, TinyConfig, SmolLM2Config; json.Unmarshal fills HF's
	// defaults, Validate checks it).
	Config = config.Llama
	// GenerationConfig is HF's generation_config.json.
	GenerationConfig = config.GenerationConfig
	// WeightSource is what Load and Binder read: fovea.OpenSafetensors
	// returns one, and any type with these three methods is one.
	WeightSource = weights.Source
	// TensorInfo describes one stored tensor of a WeightSource.
	TensorInfo = safetensors.TensorInfo
	// Binder fills tagged weight structs from a WeightSource and reports
	// every missing, unexpected or mis-shaped tensor at Finish.
	Binder = weights.Binder
	// BindError lists every problem a Binder found.
	BindError = weights.BindError
	// WeightOption adjusts a Binder (RenameWeights, IgnoreWeights,
	// AllowUnexpectedWeights).
	WeightOption = weights.Option
)

// The activations, named as in HF's ACT2FN.
const (
	ActIdentity  = backend.ActIdentity
	ActGELU      = backend.ActGELU
	ActGELUTanh  = backend.ActGELUTanh
	ActQuickGELU = backend.ActQuickGELU
	ActSiLU      = backend.ActSiLU
	ActReLU      = backend.ActReLU
	ActTanh      = backend.ActTanh
	ActSigmoid   = backend.ActSigmoid
)

// ParseAct maps an HF hidden_act name ("silu", "gelu", "quick_gelu", ...)
// to an Act.
func ParseAct(name string) (Act, error) { return backend.ParseAct(name) }

// DefaultConfig is transformers' LlamaConfig() defaults (Llama-2-7B).
func DefaultConfig() Config { return config.DefaultLlama() }

// TinyConfig is the shape of testdata/llama_tiny: a model small enough to
// build and run in a test.
func TinyConfig() Config { return config.LlamaTiny() }

// SmolLM2Config is HuggingFaceTB/SmolLM2-135M's config.
func SmolLM2Config() Config { return config.SmolLM2_135M() }

// NewBinder returns a Binder reading src. Bind each weight struct under
// its prefix, then call Finish for the combined report.
func NewBinder(src WeightSource, opts ...WeightOption) *Binder {
	return weights.NewBinder(src, opts...)
}

// RenameWeights maps each checkpoint name before it is matched.
func RenameWeights(fn func(checkpointName string) string) WeightOption { return weights.Rename(fn) }

// IgnoreWeights drops checkpoint tensors under the given prefixes.
func IgnoreWeights(prefixes ...string) WeightOption { return weights.Ignore(prefixes...) }

// AllowUnexpectedWeights accepts checkpoint tensors no struct asks for.
func AllowUnexpectedWeights() WeightOption { return weights.AllowUnexpected() }
