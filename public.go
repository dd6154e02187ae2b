package fovea

import (
	"errors"
	"fmt"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// Public names of the types the packages exchange. They are aliases:
// fovea.Tensor, decoder.Tensor and vision.Tensor are one type, so a value
// passes between the packages unchanged.
type (
	// Tensor is a dense row-major float32 array: Shape (outermost first)
	// and Data, len(Data) = product of Shape. Methods: Dims, Dim, Len,
	// Reshape (a view), Clone.
	Tensor = tensor.Tensor
	// Backend is the set of operations the layers of vision/, projector/,
	// decoder/ and crossattn/ run on (see EagerBackend).
	Backend = backend.Backend
	// Value is a tensor as a Backend sees it; for EagerBackend it is a
	// *Tensor (see TensorOf).
	Value = backend.Value
	// Config is a parsed config.json: ModelType and the one of Llama,
	// CLIPVision, Llava or Mllama that it names.
	Config = config.Model
	// LlavaConfig is a LLaVA config.json (text_config, vision_config and
	// the projector's keys) with HF's keys (projector.LlavaConfig is the
	// same type).
	LlavaConfig = config.Llava
	// MllamaConfig is an Mllama config.json (text_config, vision_config)
	// with HF's keys (projector.MllamaConfig is the same type).
	MllamaConfig = config.Mllama
	// GenerationConfig is HF's generation_config.json
	// (decoder.GenerationConfig is the same type).
	GenerationConfig = config.GenerationConfig
	// SafetensorsFile is an open .safetensors file, or a sharded folder
	// (model.safetensors.index.json): Names, Info, Float32, Int64,
	// Metadata, Close. It is the WeightSource the layer packages' Load
	// functions read.
	SafetensorsFile = safetensors.File
	// SafetensorsEntry is one tensor to write with WriteSafetensors.
	SafetensorsEntry = safetensors.Entry
)

// maxTensorElems bounds NewTensor: 2³¹ float32 elements (8 GiB).
const maxTensorElems = 1 << 31

// checkShape returns the element count of shape, refusing negative
// dimensions and products past maxTensorElems.
func checkShape(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("fovea: tensor shape %v has a negative dimension", shape)
		}
		if d != 0 && n > maxTensorElems/d {
			return 0, fmt.Errorf("fovea: tensor shape %v exceeds %d elements", shape, maxTensorElems)
		}
		n *= d
	}
	return n, nil
}

// NewTensor returns a zero-filled tensor of the given shape (outermost
// first), refusing negative dimensions and more than 2³¹ elements.
func NewTensor(shape ...int) (*Tensor, error) {
	if _, err := checkShape(shape); err != nil {
		return nil, err
	}
	return tensor.New(shape...), nil
}

// TensorFromData wraps data (not copied) with a shape; len(data) must be
// the product of shape.
func TensorFromData(data []float32, shape ...int) (*Tensor, error) {
	n, err := checkShape(shape)
	if err != nil {
		return nil, err
	}
	if n != len(data) {
		return nil, fmt.Errorf("fovea: tensor shape %v needs %d values, got %d", shape, n, len(data))
	}
	return tensor.FromData(data, shape...), nil
}

// EagerBackend returns the CPU inference backend: every Value it makes is a
// *Tensor, computed when the call returns. It holds no state; one value
// serves concurrent callers.
func EagerBackend() Backend { return backend.Eager{} }

// TensorOf reads a Value made by EagerBackend.
func TensorOf(v Value) (*Tensor, error) {
	t, ok := v.(*Tensor)
	if !ok || t == nil {
		return nil, fmt.Errorf("fovea: %T is not an eager tensor", v)
	}
	return t, nil
}

// OpenSafetensors opens a .safetensors file, or a folder holding
// model.safetensors or a sharded model.safetensors.index.json. The result is
// a WeightSource for decoder.Model.Load, vision.LoadCLIPVision and the
// others; Close it when done.
func OpenSafetensors(path string) (*SafetensorsFile, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, fmt.Errorf("fovea: %w", err)
	}
	return f, nil
}

// Float32Entry encodes t as an F32 entry (a copy).
func Float32Entry(name string, t *Tensor) SafetensorsEntry { return safetensors.Float32Entry(name, t) }

// Int64Entry encodes vals as an I64 entry of the given shape ([len(vals)]
// when none is given).
func Int64Entry(name string, vals []int64, shape ...int) SafetensorsEntry {
	return safetensors.Int64Entry(name, vals, shape...)
}

// WriteSafetensors writes entries (and optional __metadata__) to one
// .safetensors file, atomically: a temporary file renamed into place.
func WriteSafetensors(path string, entries []SafetensorsEntry, metadata map[string]string) error {
	for _, e := range entries {
		if e.Name == "" {
			return errors.New("fovea: safetensors entry with an empty name")
		}
	}
	return safetensors.WriteEntries(path, entries, metadata)
}
