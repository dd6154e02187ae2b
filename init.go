package fovea

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/fovea-ml/fovea/crossattn"
	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/projector"
	"github.com/fovea-ml/fovea/vision"
)

// DefaultInitializerRange is HF's initializer_range default: the standard
// deviation of freshly initialised Linear and embedding weights.
const DefaultInitializerRange = 0.02

// NewFromConfig builds a model from a folder that holds a config.json
// (and optionally a tokenizer, preprocessor_config.json and
// generation_config.json) but no weights, initialised as HF's
// _init_weights does: every Linear, convolution and embedding weight from
// N(0, initializer_range²) (config.json's initializer_range, else
// text_config's, else 0.02), norm weights 1, biases 0, the gates of
// Mllama's cross-attention layers and of its vision position embeddings 0
// (so the model starts as its text-only decoder), the gates of its gated
// vision layers from the same normal. The draws come from a PCG source
// seeded by seed, so one seed gives one model. The weights are kept in
// the training form (as ForTraining); Save writes them. A config needing
// more than DefaultMaxInitValues weight values (WithMaxInitValues) is
// refused before anything is allocated. Options other than the tokenizer
// ones and WithMaxInitValues are ignored.
func NewFromConfig(ctx context.Context, dir string, seed uint64, opts ...Option) (*Model, error) {
	o, cfg, err := readConfig(ctx, dir, opts)
	if err != nil {
		return nil, err
	}
	if err := checkInitBudget(dir, cfg, o.maxInitValues); err != nil {
		return nil, fmt.Errorf("fovea: %w", err)
	}
	gen, err := config.LoadGeneration(dir)
	if err != nil {
		return nil, fmt.Errorf("fovea: %w", err)
	}
	a, err := newArchitecture(dir, cfg)
	if err != nil {
		return nil, fmt.Errorf("fovea: %s: %w", dir, err)
	}
	if err := initWeights(a, initializerRange(dir), seed); err != nil {
		return nil, fmt.Errorf("fovea: %s: %w", dir, err)
	}
	if err := checkFinite(a); err != nil { // an initializer_range so large that draws overflow float32
		return nil, fmt.Errorf("fovea: %s: initializer_range %v: %w", dir, initializerRange(dir), err)
	}
	aux := readAuxFiles(dir, o.tokenizerPath)
	m := &Model{impl: a, cfg: cfg, gen: gen, b: backend.Eager{}, aux: aux}
	if !o.noTokenizer {
		if m.tok, err = loadTokenizer(dir, o.tokenizerPath); err != nil {
			return nil, fmt.Errorf("fovea: %w", err)
		}
		if err := checkVocab(m.tok, a.textDecoder()); err != nil { // as Load
			return nil, fmt.Errorf("fovea: %s: %w", dir, err)
		}
	}
	if m.chat, err = loadChatTemplate(dir, m.impl.kind(), m.tok); err != nil {
		return nil, fmt.Errorf("fovea: %s: %w", dir, err)
	}
	return m, nil
}

// newArchitecture allocates the layers a config asks for (zero weights).
func newArchitecture(dir string, cfg *config.Model) (architecture, error) {
	switch {
	case cfg.Llava != nil:
		c := cfg.Llava
		l := &llava{cfg: *c, pcfg: projector.FromLlava(c)}
		var err error
		if l.tower, err = vision.NewCLIPVision(&c.VisionConfig); err != nil {
			return nil, err
		}
		if l.proj, err = projector.New(l.pcfg, projector.MLP2); err != nil {
			return nil, err
		}
		if l.dec, err = decoder.New(&c.TextConfig); err != nil {
			return nil, err
		}
		if l.pre, err = loadCLIPPreprocessor(dir, &c.VisionConfig); err != nil {
			return nil, err
		}
		return l, nil
	case cfg.Mllama != nil:
		c := cfg.Mllama
		m := &mllama{cfg: *c, proj: projector.NewMllama(c)}
		var err error
		if m.tower, err = vision.NewMllamaVision(&c.VisionConfig); err != nil {
			return nil, err
		}
		layers, err := crossattn.NewLayers(&c.TextConfig)
		if err != nil {
			return nil, err
		}
		text := c.TextConfig.AsLlama()
		if m.dec, err = decoder.NewWithLayers(&text, layers, decoder.WithEmbedRows(c.TextConfig.NumEmbeddings())); err != nil {
			return nil, err
		}
		if m.pre, err = loadMllamaPreprocessor(dir, &c.VisionConfig); err != nil {
			return nil, err
		}
		return m, nil
	case cfg.Llama != nil:
		dec, err := decoder.New(cfg.Llama)
		if err != nil {
			return nil, err
		}
		return &llama{dec: dec}, nil
	case cfg.CLIPVision != nil:
		tower, err := vision.NewCLIPVision(cfg.CLIPVision)
		if err != nil {
			return nil, err
		}
		pre, err := loadCLIPPreprocessor(dir, cfg.CLIPVision)
		if err != nil {
			return nil, err
		}
		return &clipVision{tower: tower, pre: pre}, nil
	}
	return nil, fmt.Errorf("model_type %q cannot be initialised", cfg.ModelType)
}

// initializerRange reads initializer_range from config.json (top level,
// then text_config), defaulting to DefaultInitializerRange.
func initializerRange(dir string) float64 {
	data, err := os.ReadFile(filepath.Join(dir, config.ConfigFile))
	if err != nil {
		return DefaultInitializerRange
	}
	var c struct {
		Range *float64 `json:"initializer_range"`
		Text  struct {
			Range *float64 `json:"initializer_range"`
		} `json:"text_config"`
	}
	if json.Unmarshal(data, &c) != nil {
		return DefaultInitializerRange
	}
	switch {
	case c.Range != nil && *c.Range > 0:
		return *c.Range
	case c.Text.Range != nil && *c.Text.Range > 0:
		return *c.Text.Range
	}
	return DefaultInitializerRange
}

// initWeights fills every weight of a by HF's rules (see NewFromConfig),
// in checkpoint-name order so that the draws do not depend on Go's map
// order.
func initWeights(a architecture, std float64, seed uint64) error {
	ts, err := namedWeights(a)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	done := map[any]bool{}
	for _, nt := range ts {
		t := nt.W
		if done[t] {
			continue
		}
		done[t] = true
		if len(t.Data) != numel(t.Shape) {
			t.Data = make([]float32, numel(t.Shape))
		}
		name := nt.Name
		switch {
		case strings.HasSuffix(name, "bias"):
			clear(t.Data)
		case strings.HasSuffix(name, "gate_attn") || strings.HasSuffix(name, "gate_ffn"):
			normal(rng, t.Data, std) // gated vision layers
		case strings.Contains(name, "gate") && t.Len() == 1:
			clear(t.Data) // cross-attention and position-embedding gates
		case t.Dims() == 1 && strings.HasSuffix(name, "weight"):
			for i := range t.Data {
				t.Data[i] = 1 // norms
			}
		default:
			normal(rng, t.Data, std)
		}
	}
	return nil
}

func normal(rng *rand.Rand, x []float32, std float64) {
	for i := range x {
		x[i] = float32(rng.NormFloat64() * std)
	}
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
