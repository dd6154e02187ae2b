package projector

import (
	"fmt"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// Prefix is where LLaVA checkpoints keep the projector (after renaming the
// newer "model.multi_modal_projector." layout to this one).
const Prefix = "multi_modal_projector."

// Variant selects the projector architecture.
type Variant int

const (
	// MLP2 is HF's LlavaMultiModalProjector: linear_2(act(linear_1(x))).
	MLP2 Variant = iota
	// Linear is a single linear_1 (the original LLaVA v1 projector).
	Linear
)

func (k Variant) String() string {
	switch k {
	case MLP2:
		return "mlp2x"
	case Linear:
		return "linear"
	}
	return fmt.Sprintf("Variant(%d)", int(k))
}

// VariantFromWeights picks MLP2 when the checkpoint holds linear_2's weight,
// Linear otherwise. has reports whether a (full) tensor name exists.
func VariantFromWeights(has func(name string) bool, prefix string) Variant {
	if has(prefix + "linear_2.weight") {
		return MLP2
	}
	return Linear
}

// Dense is an nn.Linear with a bias: Weight [Out, In], Bias [Out].
type Dense struct {
	Weight *Tensor `weight:"weight"`
	Bias   *Tensor `weight:"bias"`
}

func newDense(in, out int) Dense { return Dense{Weight: tensor.New(out, in), Bias: tensor.New(out)} }

// Forward maps x [..., In] → [..., Out].
func (l *Dense) Forward(b Backend, x Value) Value {
	return b.Linear(x, b.Weight(l.Weight), b.Weight(l.Bias))
}

// Projector maps selected vision features [N, P, Dv·L] to the text width
// [N, P, Dt]. Weight names are relative to Prefix.
type Projector struct {
	Linear1 Dense  `weight:"linear_1"`
	Linear2 *Dense `weight:"linear_2,optional"` // nil for Variant Linear

	kind Variant
	act  backend.Act
}

// Config is what a projector needs from a LLaVA config; JSON tags are the
// HF LlavaConfig keys.
type Config struct {
	// VisionHidden is vision_config.hidden_size.
	VisionHidden int `json:"-"`
	// TextHidden is text_config.hidden_size.
	TextHidden int `json:"-"`
	// HiddenAct is projector_hidden_act (MLP2 only).
	HiddenAct string `json:"projector_hidden_act"`
	// FeatureLayers is vision_feature_layer (one or several entries).
	FeatureLayers []int `json:"vision_feature_layer"`
	// SelectStrategy is vision_feature_select_strategy: "default" or "full".
	SelectStrategy string `json:"vision_feature_select_strategy"`
	// NumHiddenStates is vision num_hidden_layers + 1 (the length of HF's
	// hidden_states tuple), used to resolve negative layer indices.
	NumHiddenStates int `json:"-"`
}

// FromLlava extracts a projector Config from a LLaVA config.
func FromLlava(c *LlavaConfig) Config {
	return Config{
		VisionHidden:    c.VisionConfig.HiddenSize,
		TextHidden:      c.TextConfig.HiddenSize,
		HiddenAct:       c.ProjectorHiddenAct,
		FeatureLayers:   append([]int(nil), c.VisionFeatureLayer...),
		SelectStrategy:  c.VisionFeatureSelectStrategy,
		NumHiddenStates: c.VisionConfig.NumHiddenLayers + 1,
	}
}

// Validate checks widths, the activation, the strategy and that every
// feature layer indexes the hidden-states tuple.
func (c *Config) Validate() error {
	if c.VisionHidden <= 0 || c.TextHidden <= 0 {
		return fmt.Errorf("projector: vision hidden %d and text hidden %d must be positive", c.VisionHidden, c.TextHidden)
	}
	if _, err := backend.ParseAct(c.HiddenAct); err != nil {
		return fmt.Errorf("projector: projector_hidden_act: %w", err)
	}
	if c.SelectStrategy != config.StrategyDefault && c.SelectStrategy != config.StrategyFull {
		return fmt.Errorf("projector: vision_feature_select_strategy %q is neither %q nor %q",
			c.SelectStrategy, config.StrategyDefault, config.StrategyFull)
	}
	if len(c.FeatureLayers) == 0 {
		return fmt.Errorf("projector: vision_feature_layer is empty")
	}
	for _, l := range c.FeatureLayers {
		if _, err := resolveLayer(l, c.NumHiddenStates); err != nil {
			return err
		}
	}
	return nil
}

// MaxLayer is the deepest hidden-state index the feature selection reads:
// the vision tower can stop after that layer.
func (c *Config) MaxLayer() int {
	deepest := 0
	for _, l := range c.FeatureLayers {
		i, _ := resolveLayer(l, c.NumHiddenStates)
		deepest = max(deepest, i)
	}
	return deepest
}

// New allocates a projector of the given kind; linear_1's input width is
// VisionHidden times the number of feature layers (they are concatenated).
func New(c Config, kind Variant) (*Projector, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	act, _ := backend.ParseAct(c.HiddenAct)
	in := c.VisionHidden * len(c.FeatureLayers)
	p := &Projector{Linear1: newDense(in, c.TextHidden), kind: kind, act: act}
	switch kind {
	case MLP2:
		l2 := newDense(c.TextHidden, c.TextHidden)
		p.Linear2 = &l2
	case Linear:
	default:
		return nil, fmt.Errorf("projector: unknown kind %v", kind)
	}
	return p, nil
}

// Variant reports the architecture.
func (p *Projector) Variant() Variant { return p.kind }

// Forward maps x [N, P, In] → [N, P, Dt]: linear_2(act(linear_1(x))) as
// HF's LlavaMultiModalProjector, or linear_1(x) alone for Variant Linear.
func (p *Projector) Forward(b Backend, x Value) Value {
	h := p.Linear1.Forward(b, x) // [N, P, Dt]
	if p.Linear2 == nil {
		return h
	}
	return p.Linear2.Forward(b, b.Activation(h, p.act)) // [N, P, Dt]
}

// resolveLayer maps a Python-style index into a tuple of n hidden states.
func resolveLayer(l, n int) (int, error) {
	i := l
	if i < 0 {
		i += n
	}
	if i < 0 || i >= n {
		return 0, fmt.Errorf("projector: vision_feature_layer %d is outside the %d hidden states", l, n)
	}
	return i, nil
}

// SelectFeatures picks the configured hidden states (hidden[i] [N, P+1, Dv],
// Python indexing, as HF's hidden_states tuple) and applies the strategy:
// "default" drops the CLS token (position 0), "full" keeps all. Several
// layers are concatenated along channels after the crop, as HF does.
// Returns [N, P, Dv·L] (P+1 tokens for "full").
func SelectFeatures(b Backend, hidden []Value, c Config) (Value, error) {
	parts := make([]backend.Value, 0, len(c.FeatureLayers))
	for _, l := range c.FeatureLayers {
		i, err := resolveLayer(l, c.NumHiddenStates)
		if err != nil {
			return nil, err
		}
		if i >= len(hidden) {
			return nil, fmt.Errorf("projector: feature layer %d needs hidden state %d, only %d computed", l, i, len(hidden))
		}
		h := hidden[i] // [N, P+1, Dv]
		if c.SelectStrategy == config.StrategyDefault {
			h = b.Slice(h, 1, 1, b.Shape(h)[1]) // [N, P, Dv]: drop CLS
		}
		parts = append(parts, h)
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return b.Concat(-1, parts...), nil // [N, P, Dv·L]
}
