package config

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/fovea-ml/fovea/internal/fsx"
)

// File names inside a model directory.
const (
	ConfigFile           = "config.json"
	GenerationConfigFile = "generation_config.json"
)

// MaxConfigBytes caps the size of a config file; real ones are a few KiB.
const MaxConfigBytes = 16 << 20

// supportedModelTypes lists what Parse dispatches on, for error messages.
func supportedModelTypes() string {
	return strings.Join([]string{ModelTypeLlama, ModelTypeCLIPVision, ModelTypeLlava, ModelTypeMllama}, ", ")
}

// Parse decodes a config.json document: it dispatches on model_type, fills
// HF's defaults for absent keys (unknown keys are ignored), and validates.
// Wrong JSON types, unsupported model types and failed checks are errors
// wrapping ErrInvalid; errors about a key are *KeyError.
func Parse(data []byte) (*Model, error) {
	if len(data) > MaxConfigBytes {
		return nil, fmt.Errorf("config: %d bytes exceeds the %d byte limit: %w", len(data), MaxConfigBytes, ErrInvalid)
	}
	var head struct {
		ModelType *string `json:"model_type"`
	}
	if err := decodeInto(data, &head); err != nil {
		return nil, err
	}
	if head.ModelType == nil {
		return nil, keyErr("model_type", "missing (supported: %s)", supportedModelTypes())
	}
	m := &Model{ModelType: *head.ModelType}
	var err error
	switch m.ModelType {
	case ModelTypeLlama:
		m.Llama = new(Llama)
		if err = m.Llama.UnmarshalJSON(data); err == nil {
			err = m.Llama.Validate()
		}
	case ModelTypeCLIPVision:
		m.CLIPVision = new(CLIPVision)
		if err = m.CLIPVision.UnmarshalJSON(data); err == nil {
			err = m.CLIPVision.Validate()
		}
	case ModelTypeLlava:
		m.Llava = new(Llava)
		if err = m.Llava.UnmarshalJSON(data); err == nil {
			err = m.Llava.Validate()
		}
	case ModelTypeMllama:
		m.Mllama = new(Mllama)
		if err = m.Mllama.UnmarshalJSON(data); err == nil {
			err = m.Mllama.Validate()
		}
	default:
		return nil, keyErr("model_type", "unsupported model_type %q (supported: %s)", m.ModelType, supportedModelTypes())
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// readCapped reads path, refusing files over MaxConfigBytes and special
// files (a FIFO, a device) without blocking on them.
func readCapped(path string) ([]byte, error) {
	data, err := fsx.ReadFile(path, MaxConfigBytes)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %w", err, ErrInvalid)
	}
	return data, err
}

// Load reads and parses dir/config.json (see Parse).
func Load(dir string) (*Model, error) {
	path := filepath.Join(dir, ConfigFile)
	data, err := readCapped(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	m, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// ParseGeneration decodes a generation_config.json document, filling HF's
// GenerationConfig defaults for absent keys, and validates it.
func ParseGeneration(data []byte) (*GenerationConfig, error) {
	if len(data) > MaxConfigBytes {
		return nil, fmt.Errorf("config: %d bytes exceeds the %d byte limit: %w", len(data), MaxConfigBytes, ErrInvalid)
	}
	g := new(GenerationConfig)
	if err := g.UnmarshalJSON(data); err != nil {
		return nil, err
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return g, nil
}

// LoadGeneration reads dir/generation_config.json. It returns (nil, nil)
// when the file does not exist (many checkpoints have none).
func LoadGeneration(dir string) (*GenerationConfig, error) {
	path := filepath.Join(dir, GenerationConfigFile)
	data, err := readCapped(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	g, err := ParseGeneration(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}
