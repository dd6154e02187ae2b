package fovea

import (
	"fmt"
	"path/filepath"

	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// checkpointValues is the number of tensor values the checkpoint's
// headers declare. safetensors.Open has checked every tensor's bytes
// against the data present in its file.
func checkpointValues(src *safetensors.File) int64 {
	var n int64
	for _, name := range src.Names() {
		info, _ := src.Info(name)
		n += int64(tensor.Numel(info.Shape))
	}
	return n
}

// budgetSlackValues is how many weight values the model may need beyond
// twice what the checkpoint holds and still be allocated, so that a
// checkpoint missing a few tensors gets the binder's full list of missing
// names rather than a size error.
const budgetSlackValues = 1 << 24

// checkWeightBudget refuses, before any model tensor is allocated, a
// config that needs far more weight values than the checkpoint holds: the
// model would fail to bind anyway, and allocating it first (a config with
// missing keys takes HF's 7B or ViT-L defaults) could exhaust memory. What
// passes allocates at most about twice the checkpoint's values plus the
// slack.
func checkWeightBudget(dir string, cfg *config.Model, src *safetensors.File) error {
	need, have := cfg.MinWeights(), checkpointValues(src)
	if need <= 2*have+budgetSlackValues {
		return nil
	}
	return fmt.Errorf("%s: model_type %q with %s needs at least %d weight values, but the checkpoint holds %d "+
		"(limit: twice that plus %d; keys absent from config.json take HF's defaults): refusing to allocate the model",
		filepath.Join(dir, config.ConfigFile), cfg.ModelType, sizeKeys(cfg), need, have, budgetSlackValues)
}

// sizeKeys names the config keys that size the model, with their values.
func sizeKeys(cfg *config.Model) string {
	llama := func(p string, c *config.Llama) string {
		return fmt.Sprintf("%shidden_size=%d, %sintermediate_size=%d, %snum_hidden_layers=%d, %svocab_size=%d",
			p, c.HiddenSize, p, c.IntermediateSize, p, c.NumHiddenLayers, p, c.VocabSize)
	}
	clip := func(p string, c *config.CLIPVision) string {
		return fmt.Sprintf("%shidden_size=%d, %sintermediate_size=%d, %snum_hidden_layers=%d, %simage_size=%d",
			p, c.HiddenSize, p, c.IntermediateSize, p, c.NumHiddenLayers, p, c.ImageSize)
	}
	switch {
	case cfg.Llama != nil:
		return llama("", cfg.Llama)
	case cfg.CLIPVision != nil:
		return clip("", cfg.CLIPVision)
	case cfg.Llava != nil:
		return llama("text_config.", &cfg.Llava.TextConfig) + ", " + clip("vision_config.", &cfg.Llava.VisionConfig)
	case cfg.Mllama != nil:
		t, v := &cfg.Mllama.TextConfig, &cfg.Mllama.VisionConfig
		return fmt.Sprintf("text_config.hidden_size=%d, text_config.intermediate_size=%d, text_config.num_hidden_layers=%d, "+
			"text_config.vocab_size=%d, vision_config.hidden_size=%d, vision_config.num_hidden_layers=%d, "+
			"vision_config.num_global_layers=%d, vision_config.image_size=%d",
			t.HiddenSize, t.IntermediateSize, t.NumHiddenLayers, t.VocabSize, v.HiddenSize, v.NumHiddenLayers,
			v.NumGlobalLayers, v.ImageSize)
	}
	return "no sizes"
}

// DefaultMaxInitValues is the most weight values NewFromConfig allocates
// unless WithMaxInitValues says otherwise: 2³⁰ (4 GiB of float32, before
// the optimizer's two moments). A config with missing size keys takes
// HF's defaults (7B for llama), which must not be allocated by accident.
const DefaultMaxInitValues = 1 << 30

// WithMaxInitValues sets how many weight values NewFromConfig may
// allocate (default DefaultMaxInitValues).
func WithMaxInitValues(n int64) Option { return func(o *options) { o.maxInitValues = n } }

// checkInitBudget refuses, before any tensor is allocated, a config that
// needs more weight values than NewFromConfig may allocate.
func checkInitBudget(dir string, cfg *config.Model, limit int64) error {
	if limit <= 0 {
		limit = DefaultMaxInitValues
	}
	if need := cfg.MinWeights(); need > limit {
		return fmt.Errorf("%s: model_type %q with %s needs at least %d weight values, over the limit of %d "+
			"(keys absent from config.json take HF's defaults; WithMaxInitValues raises the limit): refusing to allocate the model",
			filepath.Join(dir, config.ConfigFile), cfg.ModelType, sizeKeys(cfg), need, limit)
	}
	return nil
}
