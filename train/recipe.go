package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
)

// Group names a set of parameters, matched by checkpoint name.
type Group string

// The parameter groups.
const (
	// Vision is the image encoder (LLaVA: vision_tower.*; Mllama: vision_model.*).
	Vision Group = "vision"
	// Projector is multi_modal_projector.*.
	Projector Group = "projector"
	// Decoder is the language model: embeddings, self-attention blocks,
	// final norm and LM head (not the cross-attention layers).
	Decoder Group = "decoder"
	// CrossAttn is Mllama's gated cross-attention layers.
	CrossAttn Group = "crossattn"
)

// Groups lists every group in a fixed order.
func Groups() []Group { return []Group{Vision, Projector, Decoder, CrossAttn} }

// Default learning rates (LLaVA-1.5, nanoVLM).
const (
	DefaultProjectorLR = 1e-3
	DefaultDecoderLR   = 2e-5
	DefaultVisionLR    = 5e-5 // nanoVLM's backbone rate
	DefaultCrossAttnLR = 1e-4
)

// Default schedule and optimizer settings.
const (
	DefaultWarmupRatio = 0.03 // linear warmup over 3 % of a stage
	DefaultMinLRRatio  = 0.1  // cosine decay to 10 % of the peak
	DefaultClipNorm    = 1.0  // global gradient-norm clipping
)

// Stage is one phase of a recipe: the groups that train (each with its
// peak learning rate) and a length. Groups absent from LR are frozen: no
// gradient work, no optimizer state, bit-identical afterwards. In a model
// with cross-attention layers the crossattn group trains in every stage
// (at DefaultCrossAttnLR unless LR names it).
type Stage struct {
	Name string            `json:"name"`
	LR   map[Group]float64 `json:"lr"`
	// Steps is the stage length in optimizer steps; Epochs (when Steps is
	// 0) in passes over the data. With Config.Steps set, the total is
	// split over the stages in proportion to their lengths.
	Steps  int     `json:"steps,omitempty"`
	Epochs float64 `json:"epochs,omitempty"`
}

// Recipe is a list of stages and the optimizer settings they share.
type Recipe struct {
	Name   string  `json:"name"`
	Stages []Stage `json:"stages"`
	// WeightDecay is AdamW's decoupled weight decay (default 0).
	WeightDecay float64 `json:"weight_decay"`
	// WarmupRatio, MinLRRatio shape each stage's schedule: linear warmup
	// over WarmupRatio of the stage, then cosine decay to MinLRRatio of
	// the peak.
	WarmupRatio float64 `json:"warmup_ratio"`
	MinLRRatio  float64 `json:"min_lr_ratio"`
	// ClipNorm is the global gradient-norm limit (0: no clipping).
	ClipNorm float64 `json:"clip_norm"`
}

// Validate checks the recipe.
func (r *Recipe) Validate() error {
	if len(r.Stages) == 0 {
		return fmt.Errorf("train: recipe %q has no stages", r.Name)
	}
	for i, s := range r.Stages {
		if len(s.LR) == 0 {
			return fmt.Errorf("train: recipe %q stage %d (%s) trains no group", r.Name, i, s.Name)
		}
		for g, lr := range s.LR {
			if !slices.Contains(Groups(), g) {
				return fmt.Errorf("train: recipe %q stage %d: unknown group %q (have %v)", r.Name, i, g, Groups())
			}
			if !(lr > 0) || math.IsInf(lr, 0) {
				return fmt.Errorf("train: recipe %q stage %d: learning rate %v for %s must be positive", r.Name, i, lr, g)
			}
		}
		if s.Steps < 0 || s.Epochs < 0 || math.IsNaN(s.Epochs) || (s.Steps == 0 && s.Epochs == 0) {
			return fmt.Errorf("train: recipe %q stage %d (%s) needs a positive length (steps or epochs)", r.Name, i, s.Name)
		}
	}
	switch {
	case r.WeightDecay < 0 || math.IsNaN(r.WeightDecay):
		return fmt.Errorf("train: weight_decay %v", r.WeightDecay)
	case r.WarmupRatio < 0 || r.WarmupRatio >= 1 || math.IsNaN(r.WarmupRatio):
		return fmt.Errorf("train: warmup_ratio %v outside [0, 1)", r.WarmupRatio)
	case r.MinLRRatio < 0 || r.MinLRRatio > 1 || math.IsNaN(r.MinLRRatio):
		return fmt.Errorf("train: min_lr_ratio %v outside [0, 1]", r.MinLRRatio)
	case r.ClipNorm < 0 || math.IsNaN(r.ClipNorm):
		return fmt.Errorf("train: clip_norm %v", r.ClipNorm)
	}
	return nil
}

// Built-in recipe names.
const (
	RecipeProjector      = "projector"       // stage 1: projector only
	RecipeFull           = "full"            // stage 2: projector + decoder
	RecipeLLaVA          = "llava"           // stage 1 then stage 2
	RecipePretrainText   = "pretrain-text"   // decoder only
	RecipePretrainVision = "pretrain-vision" // vision encoder + projector
)

// BuiltinRecipes lists the built-in recipe names.
func BuiltinRecipes() []string {
	return []string{RecipeProjector, RecipeFull, RecipeLLaVA, RecipePretrainText, RecipePretrainVision}
}

func stage1() Stage {
	return Stage{Name: "projector", LR: map[Group]float64{Projector: DefaultProjectorLR}, Epochs: 1}
}

func stage2() Stage {
	return Stage{Name: "full", LR: map[Group]float64{Projector: DefaultDecoderLR, Decoder: DefaultDecoderLR}, Epochs: 1}
}

// Builtin returns a built-in recipe by name.
func Builtin(name string) (Recipe, error) {
	r := Recipe{Name: name, WarmupRatio: DefaultWarmupRatio, MinLRRatio: DefaultMinLRRatio, ClipNorm: DefaultClipNorm}
	switch name {
	case RecipeProjector:
		r.Stages = []Stage{stage1()}
	case RecipeFull:
		r.Stages = []Stage{stage2()}
	case RecipeLLaVA:
		r.Stages = []Stage{stage1(), stage2()}
	case RecipePretrainText:
		r.Stages = []Stage{{Name: "text", LR: map[Group]float64{Decoder: 3e-4}, Epochs: 1}}
	case RecipePretrainVision:
		r.Stages = []Stage{{Name: "vision", LR: map[Group]float64{Vision: DefaultVisionLR, Projector: DefaultProjectorLR}, Epochs: 1}}
	default:
		return Recipe{}, fmt.Errorf("train: unknown recipe %q (built-ins: %s; or a .json file)", name, strings.Join(BuiltinRecipes(), ", "))
	}
	return r, nil
}

// LoadRecipe reads a recipe: a built-in name, or a JSON file holding a
// Recipe (absent schedule keys take the defaults).
func LoadRecipe(nameOrPath string) (Recipe, error) {
	if !strings.HasSuffix(nameOrPath, ".json") {
		return Builtin(nameOrPath)
	}
	data, err := os.ReadFile(nameOrPath)
	if err != nil {
		return Recipe{}, fmt.Errorf("train: recipe: %w", err)
	}
	r := Recipe{Name: nameOrPath, WarmupRatio: DefaultWarmupRatio, MinLRRatio: DefaultMinLRRatio, ClipNorm: DefaultClipNorm}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Recipe{}, fmt.Errorf("train: recipe %s: %w", nameOrPath, err)
	}
	if err := r.Validate(); err != nil {
		return Recipe{}, err
	}
	return r, nil
}

// lrMultiplier is the schedule: step k (1-based) of a stage of n steps,
// linear warmup over ceil(warmup·n) steps, then cosine from 1 to minRatio.
// A pure function of the step, so nothing about it is saved.
func lrMultiplier(k, n int, warmup, minRatio float64) float64 {
	w := int(math.Ceil(warmup * float64(n)))
	if k <= w {
		return float64(k) / float64(w)
	}
	if n <= w+1 {
		return 1
	}
	p := float64(k-w-1) / float64(n-w-1)
	return minRatio + (1-minRatio)*0.5*(1+math.Cos(math.Pi*p))
}

// stageLengths turns the recipe's stage lengths into optimizer steps:
// epochs by stepsPerEpoch; with total > 0 the total split in proportion
// (each stage at least one step).
func stageLengths(r *Recipe, stepsPerEpoch, total int) ([]int, error) {
	raw := make([]float64, len(r.Stages))
	sum := 0.0
	for i, s := range r.Stages {
		raw[i] = float64(s.Steps)
		if s.Steps == 0 {
			raw[i] = s.Epochs * float64(stepsPerEpoch)
		}
		raw[i] = math.Max(1, math.Round(raw[i]))
		sum += raw[i]
	}
	out := make([]int, len(raw))
	if total <= 0 {
		for i, v := range raw {
			out[i] = int(v)
		}
		return out, nil
	}
	if total < len(raw) {
		return nil, fmt.Errorf("train: %d steps for %d stages (at least one each)", total, len(raw))
	}
	left := total
	for i, v := range raw {
		if i == len(raw)-1 {
			out[i] = left
			break
		}
		out[i] = max(1, int(math.Round(float64(total)*v/sum)))
		left -= out[i]
	}
	if left < 1 {
		return nil, errors.New("train: the stage split left no step for the last stage")
	}
	return out, nil
}
