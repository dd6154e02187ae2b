package config

import (
	"fmt"
	"math"
	"slices"
)

// Upper bounds enforced by Validate. They are far above any published model
// of these families and exist so that hostile configs fail validation instead
// of driving huge allocations.
const (
	MaxLayers              = 1 << 10
	MaxWidth               = 1 << 16 // hidden_size, projection/output dims
	MaxIntermediate        = 1 << 18
	MaxHeads               = 1 << 10
	MaxHeadDim             = 1 << 10
	MaxVocab               = 1 << 22
	MaxPositions           = 1 << 24
	MaxImageSize           = 1 << 14
	MaxChannels            = 64
	MaxTiles               = 64
	MaxAspectRatios        = 256
	MaxTokenIDList         = 1024
	mllamaPatchPadMultiple = 8 // MllamaVisionModel pads each tile's tokens to a multiple of 8
	mllamaExtraEmbeddings  = 8 // MllamaTextModel's embedding table has vocab_size+8 rows
)

func keyErr(key, format string, args ...any) error {
	return &KeyError{Key: key, Err: fmt.Errorf(format, args...)}
}

// size is one integer config field with its upper bound.
type size struct {
	key      string
	v, limit int
}

// checkSizes applies checkSize to each field in order.
func checkSizes(sizes ...size) error {
	for _, s := range sizes {
		if err := checkSize(s.key, s.v, s.limit); err != nil {
			return err
		}
	}
	return nil
}

func checkSize(key string, v, limit int) error {
	if v <= 0 {
		return keyErr(key, "must be positive, got %d", v)
	}
	if v > limit {
		return keyErr(key, "%d exceeds the supported maximum %d", v, limit)
	}
	return nil
}

func checkPositiveFloat(key string, v float64) error {
	if !(v > 0) || math.IsInf(v, 0) {
		return keyErr(key, "must be a positive finite number, got %v", v)
	}
	return nil
}

// KnownActivation reports whether name is an activation Fovea implements.
func KnownActivation(name string) bool {
	switch name {
	case ActSiLU, ActGELU, ActGELUNew, ActGELUPytorchTanh, ActQuickGELU, ActReLU, ActTanh:
		return true
	}
	return false
}

func checkAct(key, name string) error {
	if !KnownActivation(name) {
		return keyErr(key, "unknown activation %q (supported: %s, %s, %s, %s, %s, %s, %s)", name,
			ActSiLU, ActGELU, ActGELUNew, ActGELUPytorchTanh, ActQuickGELU, ActReLU, ActTanh)
	}
	return nil
}

func checkModelType(got string, want ...string) error {
	if got == "" || slices.Contains(want, got) {
		return nil
	}
	return keyErr("model_type", "unsupported model_type %q here (expected %q)", got, want[0])
}

func checkTokenIDs(bos *int, eos TokenIDs, pad *int, vocab int) error {
	if bos != nil && (*bos < 0 || *bos >= vocab) {
		return keyErr("bos_token_id", "%d outside vocabulary [0,%d)", *bos, vocab)
	}
	if len(eos) > MaxTokenIDList {
		return keyErr("eos_token_id", "%d ids exceed the maximum %d", len(eos), MaxTokenIDList)
	}
	for _, id := range eos {
		if id < 0 || id >= vocab {
			return keyErr("eos_token_id", "%d outside vocabulary [0,%d)", id, vocab)
		}
	}
	if pad != nil && (*pad < 0 || *pad >= vocab) {
		return keyErr("pad_token_id", "%d outside vocabulary [0,%d)", *pad, vocab)
	}
	return nil
}

// Type is the effective rope type: "default" for nil (plain RoPE).
func (r *RopeScaling) Type() string {
	if r == nil {
		return RopeDefault
	}
	return r.RopeType
}

// Validate checks the rope scaling. nil and "default" mean plain RoPE;
// "llama3" needs factor > 0, 0 < low_freq_factor < high_freq_factor and
// original_max_position_embeddings > 0; other types are unsupported. Keys are
// relative to the rope_scaling object.
func (r *RopeScaling) Validate() error {
	if r == nil {
		return nil
	}
	switch r.RopeType {
	case RopeDefault:
		return nil
	case RopeLlama3:
		if err := checkPositiveFloat("factor", r.Factor); err != nil {
			return err
		}
		if err := checkPositiveFloat("low_freq_factor", r.LowFreqFactor); err != nil {
			return err
		}
		if err := checkPositiveFloat("high_freq_factor", r.HighFreqFactor); err != nil {
			return err
		}
		if !(r.LowFreqFactor < r.HighFreqFactor) {
			return keyErr("low_freq_factor", "%v must be below high_freq_factor %v", r.LowFreqFactor, r.HighFreqFactor)
		}
		return checkSize("original_max_position_embeddings", r.OriginalMaxPositionEmbeddings, MaxPositions)
	case "":
		return keyErr("rope_type", "missing (neither \"rope_type\" nor \"type\" given)")
	}
	return keyErr("rope_type", "unsupported rope_type %q (supported: %s, %s)", r.RopeType, RopeDefault, RopeLlama3)
}

// validateDecoder holds the checks shared by Llama and MllamaText.
func validateDecoder(vocab, hidden, inter, layers, heads, kvHeads, headDim int, explicitHeadDim bool,
	act string, maxPos int, eps, theta float64, rope *RopeScaling) error {
	if err := checkSizes(
		size{"vocab_size", vocab, MaxVocab},
		size{"hidden_size", hidden, MaxWidth},
		size{"intermediate_size", inter, MaxIntermediate},
		size{"num_hidden_layers", layers, MaxLayers},
		size{"num_attention_heads", heads, MaxHeads},
		size{"num_key_value_heads", kvHeads, MaxHeads},
		size{"max_position_embeddings", maxPos, MaxPositions},
	); err != nil {
		return err
	}
	if explicitHeadDim {
		if err := checkSize("head_dim", headDim, MaxHeadDim); err != nil {
			return err
		}
	} else if hidden%heads != 0 {
		return keyErr("hidden_size", "%d not divisible by num_attention_heads %d", hidden, heads)
	}
	if heads%kvHeads != 0 {
		return keyErr("num_attention_heads", "%d not divisible by num_key_value_heads %d", heads, kvHeads)
	}
	if headDim%2 != 0 {
		return keyErr("head_dim", "%d must be even for rotary embeddings", headDim)
	}
	if err := checkAct("hidden_act", act); err != nil {
		return err
	}
	if err := checkPositiveFloat("rms_norm_eps", eps); err != nil {
		return err
	}
	if err := checkPositiveFloat("rope_theta", theta); err != nil {
		return err
	}
	return prefixKey("rope_scaling", rope.Validate())
}

// HeadDim is head_dim if given, else hidden_size / num_attention_heads.
func (c *Llama) HeadDim() int {
	if c.HeadDimension > 0 {
		return c.HeadDimension
	}
	if c.NumAttentionHeads <= 0 {
		return 0
	}
	return c.HiddenSize / c.NumAttentionHeads
}

// Validate checks sizes, divisibility, activation, rope and token ids.
func (c *Llama) Validate() error {
	if err := checkModelType(c.ModelType, ModelTypeLlama); err != nil {
		return err
	}
	if c.HeadDimension < 0 {
		return keyErr("head_dim", "must be positive, got %d", c.HeadDimension)
	}
	if err := validateDecoder(c.VocabSize, c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers,
		c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim(), c.HeadDimension > 0, c.HiddenAct,
		c.MaxPositionEmbeddings, c.RMSNormEps, c.RopeTheta, c.RopeScaling); err != nil {
		return err
	}
	return checkTokenIDs(c.BOSTokenID, c.EOSTokenID, c.PadTokenID, c.VocabSize)
}

// HeadDim is hidden_size / num_attention_heads.
func (c *CLIPVision) HeadDim() int {
	if c.NumAttentionHeads <= 0 {
		return 0
	}
	return c.HiddenSize / c.NumAttentionHeads
}

// GridSize is image_size / patch_size (patches per side).
func (c *CLIPVision) GridSize() int {
	if c.PatchSize <= 0 {
		return 0
	}
	return c.ImageSize / c.PatchSize
}

// NumPatches is GridSize squared.
func (c *CLIPVision) NumPatches() int { g := c.GridSize(); return g * g }

// NumPositions is NumPatches + 1 (the CLS token): the encoder's sequence length.
func (c *CLIPVision) NumPositions() int { return c.NumPatches() + 1 }

func checkImage(image, patch, channels int) error {
	if err := checkSize("num_channels", channels, MaxChannels); err != nil {
		return err
	}
	if err := checkSize("image_size", image, MaxImageSize); err != nil {
		return err
	}
	if err := checkSize("patch_size", patch, image); err != nil {
		return err
	}
	if image%patch != 0 {
		return keyErr("patch_size", "%d does not divide image_size %d", patch, image)
	}
	return nil
}

// Validate checks sizes, divisibility, patching and activation.
func (c *CLIPVision) Validate() error {
	if err := checkModelType(c.ModelType, ModelTypeCLIPVision); err != nil {
		return err
	}
	if err := checkSizes(
		size{"hidden_size", c.HiddenSize, MaxWidth},
		size{"intermediate_size", c.IntermediateSize, MaxIntermediate},
		size{"num_hidden_layers", c.NumHiddenLayers, MaxLayers},
		size{"num_attention_heads", c.NumAttentionHeads, MaxHeads},
		size{"projection_dim", c.ProjectionDim, MaxWidth},
	); err != nil {
		return err
	}
	if c.HiddenSize%c.NumAttentionHeads != 0 {
		return keyErr("hidden_size", "%d not divisible by num_attention_heads %d", c.HiddenSize, c.NumAttentionHeads)
	}
	if err := checkImage(c.ImageSize, c.PatchSize, c.NumChannels); err != nil {
		return err
	}
	if err := checkAct("hidden_act", c.HiddenAct); err != nil {
		return err
	}
	return checkPositiveFloat("layer_norm_eps", c.LayerNormEps)
}

// FeatureLayerIndices maps vision_feature_layer to indices into the CLIP
// encoder's hidden-states list (num_hidden_layers+1 entries, entry 0 = the
// embeddings after pre_layrnorm), resolving negative values Python-style:
// -2 with 24 layers is 23. Call after Validate.
func (c *Llava) FeatureLayerIndices() []int {
	n := c.VisionConfig.NumHiddenLayers + 1
	out := make([]int, len(c.VisionFeatureLayer))
	for i, l := range c.VisionFeatureLayer {
		if l < 0 {
			l += n
		}
		out[i] = l
	}
	return out
}

// ImageFeatureTokens is the number of projector rows per image: NumPatches
// for the "default" strategy (CLS dropped), NumPositions for "full".
func (c *Llava) ImageFeatureTokens() int {
	if c.VisionFeatureSelectStrategy == StrategyFull {
		return c.VisionConfig.NumPositions()
	}
	return c.VisionConfig.NumPatches()
}

// ProjectorInputDim is the projector's input width: the vision width times
// the number of selected layers (HF concatenates them on the channel axis).
func (c *Llava) ProjectorInputDim() int {
	return c.VisionConfig.HiddenSize * len(c.VisionFeatureLayer)
}

// Validate checks both sub-configs and the LLaVA glue fields.
func (c *Llava) Validate() error {
	if err := checkModelType(c.ModelType, ModelTypeLlava); err != nil {
		return err
	}
	if err := c.TextConfig.Validate(); err != nil {
		return prefixKey("text_config", err)
	}
	if err := c.VisionConfig.Validate(); err != nil {
		return prefixKey("vision_config", err)
	}
	if v := c.TextConfig.VocabSize; c.ImageTokenIndex < 0 || c.ImageTokenIndex >= v {
		return keyErr("image_token_index", "%d outside text vocabulary [0,%d)", c.ImageTokenIndex, v)
	}
	if err := checkAct("projector_hidden_act", c.ProjectorHiddenAct); err != nil {
		return err
	}
	n := c.VisionConfig.NumHiddenLayers + 1
	if len(c.VisionFeatureLayer) == 0 {
		return keyErr("vision_feature_layer", "must name at least one layer")
	}
	if len(c.VisionFeatureLayer) > n {
		return keyErr("vision_feature_layer", "%d layers listed but the tower has only %d hidden states", len(c.VisionFeatureLayer), n)
	}
	for _, l := range c.VisionFeatureLayer {
		if l < -n || l >= n {
			return keyErr("vision_feature_layer", "%d outside [-%d,%d) (vision tower has %d hidden states)", l, n, n, n)
		}
	}
	if c.ProjectorInputDim() > MaxWidth {
		return keyErr("vision_feature_layer", "projector input width %d exceeds %d", c.ProjectorInputDim(), MaxWidth)
	}
	switch c.VisionFeatureSelectStrategy {
	case StrategyDefault, StrategyFull:
	default:
		return keyErr("vision_feature_select_strategy", "unknown strategy %q (supported: %s, %s)",
			c.VisionFeatureSelectStrategy, StrategyDefault, StrategyFull)
	}
	return checkSize("image_seq_length", c.ImageSeqLength, MaxPositions)
}

// HeadDim is hidden_size / attention_heads.
func (c *MllamaVision) HeadDim() int {
	if c.AttentionHeads <= 0 {
		return 0
	}
	return c.HiddenSize / c.AttentionHeads
}

// GridSize is image_size / patch_size (patches per tile side).
func (c *MllamaVision) GridSize() int {
	if c.PatchSize <= 0 {
		return 0
	}
	return c.ImageSize / c.PatchSize
}

// NumPatches is GridSize squared (per tile, without CLS).
func (c *MllamaVision) NumPatches() int { g := c.GridSize(); return g * g }

// TileTokens is NumPatches + 1 (CLS): real tokens per tile.
func (c *MllamaVision) TileTokens() int { return c.NumPatches() + 1 }

// PaddedTileTokens is TileTokens rounded up to a multiple of 8, the length
// HF pads each tile to inside the encoders (17 -> 24).
func (c *MllamaVision) PaddedTileTokens() int {
	t := c.TileTokens()
	return (t + mllamaPatchPadMultiple - 1) / mllamaPatchPadMultiple * mllamaPatchPadMultiple
}

// MaxAspectRatioID is len(supported_aspect_ratios). Aspect-ratio ids are
// 1-based (0 = padding), so embedding tables indexed by them have
// MaxAspectRatioID()+1 rows.
func (c *MllamaVision) MaxAspectRatioID() int { return len(c.SupportedAspectRatios) }

// Validate checks sizes, tiling, intermediate layer indices and that
// vision_output_dim = hidden_size * (1 + len(intermediate_layers_indices)).
func (c *MllamaVision) Validate() error {
	if err := checkModelType(c.ModelType, ModelTypeMllamaVision); err != nil {
		return err
	}
	if err := checkSizes(
		size{"hidden_size", c.HiddenSize, MaxWidth},
		size{"intermediate_size", c.IntermediateSize, MaxIntermediate},
		size{"num_hidden_layers", c.NumHiddenLayers, MaxLayers},
		size{"num_global_layers", c.NumGlobalLayers, MaxLayers},
		size{"attention_heads", c.AttentionHeads, MaxHeads},
		size{"max_num_tiles", c.MaxNumTiles, MaxTiles},
		size{"vision_output_dim", c.VisionOutputDim, MaxWidth},
	); err != nil {
		return err
	}
	if c.HiddenSize%c.AttentionHeads != 0 {
		return keyErr("hidden_size", "%d not divisible by attention_heads %d", c.HiddenSize, c.AttentionHeads)
	}
	if err := checkImage(c.ImageSize, c.PatchSize, c.NumChannels); err != nil {
		return err
	}
	if err := checkAct("hidden_act", c.HiddenAct); err != nil {
		return err
	}
	if err := checkPositiveFloat("norm_eps", c.NormEps); err != nil {
		return err
	}
	if len(c.IntermediateLayersIndices) > c.NumHiddenLayers+1 {
		return keyErr("intermediate_layers_indices", "%d entries but only %d hidden states", len(c.IntermediateLayersIndices), c.NumHiddenLayers+1)
	}
	for _, idx := range c.IntermediateLayersIndices {
		if idx < 0 || idx > c.NumHiddenLayers {
			return keyErr("intermediate_layers_indices", "%d outside [0,%d] (hidden states of %d layers)", idx, c.NumHiddenLayers, c.NumHiddenLayers)
		}
	}
	if want := c.HiddenSize * (1 + len(c.IntermediateLayersIndices)); c.VisionOutputDim != want {
		return keyErr("vision_output_dim", "%d, but hidden_size %d * (1 + %d intermediate layers) = %d",
			c.VisionOutputDim, c.HiddenSize, len(c.IntermediateLayersIndices), want)
	}
	if n := len(c.SupportedAspectRatios); n == 0 || n > MaxAspectRatios {
		return keyErr("supported_aspect_ratios", "%d entries, need 1..%d", n, MaxAspectRatios)
	}
	for i, ar := range c.SupportedAspectRatios {
		if len(ar) != 2 {
			return keyErr("supported_aspect_ratios", "entry %d has %d numbers, need 2", i, len(ar))
		}
		if ar[0] <= 0 || ar[1] <= 0 || ar[0] > c.MaxNumTiles || ar[1] > c.MaxNumTiles || ar[0]*ar[1] > c.MaxNumTiles {
			return keyErr("supported_aspect_ratios", "entry %d %v: needs positive sides with product <= max_num_tiles %d", i, ar, c.MaxNumTiles)
		}
	}
	return nil
}

// HeadDim is hidden_size / num_attention_heads.
func (c *MllamaText) HeadDim() int {
	if c.NumAttentionHeads <= 0 {
		return 0
	}
	return c.HiddenSize / c.NumAttentionHeads
}

// NumEmbeddings is the embedding table's row count: vocab_size + 8 (HF
// reserves 8 extra rows; lm_head still has vocab_size rows).
func (c *MllamaText) NumEmbeddings() int { return c.VocabSize + mllamaExtraEmbeddings }

// IsCrossAttentionLayer reports whether decoder layer i is a cross-attention
// layer (such layers have no self-attention).
func (c *MllamaText) IsCrossAttentionLayer(i int) bool {
	return slices.Contains(c.CrossAttentionLayers, i)
}

// AsLlama views the text model as a Llama config for the shared decoder
// parts (self-attention layers, norms, RoPE, MLP). Cross-attention layers are
// not represented; head_dim is derived. Slices are copied.
func (c *MllamaText) AsLlama() Llama {
	l := Llama{
		ModelType:             ModelTypeLlama,
		VocabSize:             c.VocabSize,
		HiddenSize:            c.HiddenSize,
		IntermediateSize:      c.IntermediateSize,
		NumHiddenLayers:       c.NumHiddenLayers,
		NumAttentionHeads:     c.NumAttentionHeads,
		NumKeyValueHeads:      c.NumKeyValueHeads,
		HiddenAct:             c.HiddenAct,
		MaxPositionEmbeddings: c.MaxPositionEmbeddings,
		RMSNormEps:            c.RMSNormEps,
		RopeTheta:             c.RopeTheta,
		TieWordEmbeddings:     c.TieWordEmbeddings,
		EOSTokenID:            slices.Clone(c.EOSTokenID),
	}
	if c.RopeScaling != nil {
		rs := *c.RopeScaling
		l.RopeScaling = &rs
	}
	if c.BOSTokenID != nil {
		l.BOSTokenID = intPtr(*c.BOSTokenID)
	}
	if c.PadTokenID != nil {
		l.PadTokenID = intPtr(*c.PadTokenID)
	}
	return l
}

// Validate checks the decoder fields and cross_attention_layers (inside
// [0,num_hidden_layers), unique).
func (c *MllamaText) Validate() error {
	if err := checkModelType(c.ModelType, ModelTypeMllamaText); err != nil {
		return err
	}
	if err := validateDecoder(c.VocabSize, c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers,
		c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim(), false, c.HiddenAct,
		c.MaxPositionEmbeddings, c.RMSNormEps, c.RopeTheta, c.RopeScaling); err != nil {
		return err
	}
	if len(c.CrossAttentionLayers) > c.NumHiddenLayers {
		return keyErr("cross_attention_layers", "%d entries for %d layers", len(c.CrossAttentionLayers), c.NumHiddenLayers)
	}
	for i, l := range c.CrossAttentionLayers {
		if l < 0 || l >= c.NumHiddenLayers {
			return keyErr("cross_attention_layers", "%d outside [0,%d)", l, c.NumHiddenLayers)
		}
		if slices.Contains(c.CrossAttentionLayers[:i], l) {
			return keyErr("cross_attention_layers", "%d listed twice", l)
		}
	}
	return checkTokenIDs(c.BOSTokenID, c.EOSTokenID, c.PadTokenID, c.VocabSize)
}

// Validate checks both sub-configs and image_token_index (inside the
// embedding table, which has vocab_size+8 rows).
func (c *Mllama) Validate() error {
	if err := checkModelType(c.ModelType, ModelTypeMllama); err != nil {
		return err
	}
	if err := c.TextConfig.Validate(); err != nil {
		return prefixKey("text_config", err)
	}
	if err := c.VisionConfig.Validate(); err != nil {
		return prefixKey("vision_config", err)
	}
	if n := c.TextConfig.NumEmbeddings(); c.ImageTokenIndex < 0 || c.ImageTokenIndex >= n {
		return keyErr("image_token_index", "%d outside embedding table [0,%d)", c.ImageTokenIndex, n)
	}
	return nil
}

// Validate checks sampling parameters and token ids for sign and range.
func (g *GenerationConfig) Validate() error {
	if g.MaxLength < 0 {
		return keyErr("max_length", "must not be negative, got %d", g.MaxLength)
	}
	if g.MaxNewTokens != nil && (*g.MaxNewTokens < 0 || *g.MaxNewTokens > MaxPositions) {
		return keyErr("max_new_tokens", "%d outside [0,%d]", *g.MaxNewTokens, MaxPositions)
	}
	if g.Temperature < 0 || math.IsInf(g.Temperature, 0) || math.IsNaN(g.Temperature) {
		return keyErr("temperature", "must be a non-negative finite number, got %v", g.Temperature)
	}
	if g.DoSample && g.Temperature == 0 {
		return keyErr("temperature", "must be positive when do_sample is true")
	}
	if g.TopK < 0 {
		return keyErr("top_k", "must not be negative, got %d", g.TopK)
	}
	if !(g.TopP > 0 && g.TopP <= 1) {
		return keyErr("top_p", "must be in (0,1], got %v", g.TopP)
	}
	if err := checkPositiveFloat("repetition_penalty", g.RepetitionPenalty); err != nil {
		return err
	}
	return checkTokenIDs(g.BOSTokenID, g.EOSTokenID, g.PadTokenID, math.MaxInt32)
}
