package config

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPresetsValidate(t *testing.T) {
	for name, v := range map[string]interface{ Validate() error }{
		"LlamaTiny": ptr(LlamaTiny()), "SmolLM2_135M": ptr(SmolLM2_135M()), "CLIPTiny": ptr(CLIPTiny()),
		"CLIPViTB16": ptr(CLIPViTB16()), "CLIPViTL14_336": ptr(CLIPViTL14_336()), "LlavaTiny": ptr(LlavaTiny()),
		"Llama32Vision11B": ptr(Llama32Vision11B()), "MllamaTiny": ptr(MllamaTiny()),
		"DefaultLlama": ptr(DefaultLlama()), "DefaultCLIPVision": ptr(DefaultCLIPVision()),
		"DefaultMllama": ptr(DefaultMllama()), "DefaultGeneration": ptr(DefaultGeneration()),
	} {
		require.NoError(t, v.Validate(), name)
	}
	s := SmolLM2_135M()
	require.Equal(t, 64, s.HeadDim()) // 576 / 9
	b := CLIPViTB16()
	require.Equal(t, 196, b.NumPatches())
	l := CLIPViTL14_336()
	require.Equal(t, 577, l.NumPositions())
}

func ptr[T any](v T) *T { return &v }

func TestValidateLlamaRules(t *testing.T) {
	cases := []struct {
		key    string
		mutate func(c *Llama)
	}{
		{"model_type", func(c *Llama) { c.ModelType = "mistral" }},
		{"vocab_size", func(c *Llama) { c.VocabSize = 0 }},
		{"vocab_size", func(c *Llama) { c.VocabSize = MaxVocab + 1 }},
		{"hidden_size", func(c *Llama) { c.HiddenSize = -1 }},
		{"intermediate_size", func(c *Llama) { c.IntermediateSize = 0 }},
		{"num_hidden_layers", func(c *Llama) { c.NumHiddenLayers = 1_000_000_000_000 }},
		{"num_attention_heads", func(c *Llama) { c.NumAttentionHeads = 0 }},
		{"num_key_value_heads", func(c *Llama) { c.NumKeyValueHeads = 0 }},
		{"num_attention_heads", func(c *Llama) { c.NumKeyValueHeads = 3 }},
		{"hidden_size", func(c *Llama) { c.HeadDimension = 0; c.HiddenSize = 66 }},
		{"head_dim", func(c *Llama) { c.HeadDimension = -4 }},
		{"head_dim", func(c *Llama) { c.HeadDimension = 15 }},
		{"hidden_act", func(c *Llama) { c.HiddenAct = "swiglu" }},
		{"max_position_embeddings", func(c *Llama) { c.MaxPositionEmbeddings = 0 }},
		{"rms_norm_eps", func(c *Llama) { c.RMSNormEps = 0 }},
		{"rope_theta", func(c *Llama) { c.RopeTheta = -1 }},
		{"rope_scaling.rope_type", func(c *Llama) { c.RopeScaling = &RopeScaling{RopeType: "yarn", Factor: 4} }},
		{"rope_scaling.rope_type", func(c *Llama) { c.RopeScaling = &RopeScaling{} }},
		{"rope_scaling.factor", func(c *Llama) { c.RopeScaling = llama3Rope(); c.RopeScaling.Factor = 0 }},
		{"rope_scaling.low_freq_factor", func(c *Llama) { c.RopeScaling = llama3Rope(); c.RopeScaling.LowFreqFactor = 4 }},
		{"rope_scaling.high_freq_factor", func(c *Llama) { c.RopeScaling = llama3Rope(); c.RopeScaling.HighFreqFactor = 0 }},
		{"rope_scaling.original_max_position_embeddings", func(c *Llama) {
			c.RopeScaling = llama3Rope()
			c.RopeScaling.OriginalMaxPositionEmbeddings = 0
		}},
		{"bos_token_id", func(c *Llama) { c.BOSTokenID = intPtr(384) }},
		{"eos_token_id", func(c *Llama) { c.EOSTokenID = TokenIDs{2, -1} }},
		{"pad_token_id", func(c *Llama) { c.PadTokenID = intPtr(1000) }},
	}
	for _, tc := range cases {
		c := LlamaTiny()
		tc.mutate(&c)
		requireKeyErr(t, c.Validate(), tc.key)
	}
	c := LlamaTiny()
	c.RopeScaling = llama3Rope()
	require.NoError(t, c.Validate())
}

func llama3Rope() *RopeScaling {
	return &RopeScaling{RopeType: RopeLlama3, Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 8192}
}

func TestValidateCLIPRules(t *testing.T) {
	cases := []struct {
		key    string
		mutate func(c *CLIPVision)
	}{
		{"model_type", func(c *CLIPVision) { c.ModelType = "siglip_vision_model" }},
		{"hidden_size", func(c *CLIPVision) { c.HiddenSize = 0 }},
		{"hidden_size", func(c *CLIPVision) { c.HiddenSize = 66 }},
		{"intermediate_size", func(c *CLIPVision) { c.IntermediateSize = -3 }},
		{"num_hidden_layers", func(c *CLIPVision) { c.NumHiddenLayers = MaxLayers + 1 }},
		{"num_attention_heads", func(c *CLIPVision) { c.NumAttentionHeads = 0 }},
		{"projection_dim", func(c *CLIPVision) { c.ProjectionDim = 0 }},
		{"num_channels", func(c *CLIPVision) { c.NumChannels = 0 }},
		{"image_size", func(c *CLIPVision) { c.ImageSize = 0 }},
		{"patch_size", func(c *CLIPVision) { c.PatchSize = 0 }},
		{"patch_size", func(c *CLIPVision) { c.PatchSize = 64 }},
		{"patch_size", func(c *CLIPVision) { c.PatchSize = 7 }},
		{"hidden_act", func(c *CLIPVision) { c.HiddenAct = "" }},
		{"layer_norm_eps", func(c *CLIPVision) { c.LayerNormEps = 0 }},
	}
	for _, tc := range cases {
		c := CLIPTiny()
		tc.mutate(&c)
		requireKeyErr(t, c.Validate(), tc.key)
	}
}

func TestValidateLlavaRules(t *testing.T) {
	cases := []struct {
		key    string
		mutate func(c *Llava)
	}{
		{"model_type", func(c *Llava) { c.ModelType = "llava_next" }},
		{"text_config.num_key_value_heads", func(c *Llava) { c.TextConfig.NumKeyValueHeads = -2 }},
		{"text_config.model_type", func(c *Llava) { c.TextConfig.ModelType = "qwen2" }},
		{"vision_config.patch_size", func(c *Llava) { c.VisionConfig.PatchSize = 5 }},
		{"image_token_index", func(c *Llava) { c.ImageTokenIndex = 384 }},
		{"image_token_index", func(c *Llava) { c.ImageTokenIndex = -1 }},
		{"projector_hidden_act", func(c *Llava) { c.ProjectorHiddenAct = "mish" }},
		{"vision_feature_layer", func(c *Llava) { c.VisionFeatureLayer = nil }},
		{"vision_feature_layer", func(c *Llava) { c.VisionFeatureLayer = IntList{4} }},
		{"vision_feature_layer", func(c *Llava) { c.VisionFeatureLayer = IntList{-5} }},
		{"vision_feature_layer", func(c *Llava) { c.VisionFeatureLayer = IntList{0, 1, 2, 3, 0} }},
		{"vision_feature_select_strategy", func(c *Llava) { c.VisionFeatureSelectStrategy = "cls" }},
		{"image_seq_length", func(c *Llava) { c.ImageSeqLength = 0 }},
	}
	for _, tc := range cases {
		c := LlavaTiny()
		tc.mutate(&c)
		requireKeyErr(t, c.Validate(), tc.key)
	}
	// Boundary values that are legal: -4 and 3 with 4 hidden states.
	c := LlavaTiny()
	c.VisionFeatureLayer = IntList{-4, 3}
	require.NoError(t, c.Validate())
	require.Equal(t, []int{0, 3}, c.FeatureLayerIndices())
}

func TestValidateMllamaRules(t *testing.T) {
	cases := []struct {
		key    string
		mutate func(c *Mllama)
	}{
		{"model_type", func(c *Mllama) { c.ModelType = "llava" }},
		{"image_token_index", func(c *Mllama) { c.ImageTokenIndex = 392 }},
		{"text_config.cross_attention_layers", func(c *Mllama) { c.TextConfig.CrossAttentionLayers = []int{1, 5} }},
		{"text_config.cross_attention_layers", func(c *Mllama) { c.TextConfig.CrossAttentionLayers = []int{-1} }},
		{"text_config.cross_attention_layers", func(c *Mllama) { c.TextConfig.CrossAttentionLayers = []int{3, 1, 3} }},
		{"text_config.cross_attention_layers", func(c *Mllama) { c.TextConfig.CrossAttentionLayers = []int{0, 1, 2, 3, 4, 0} }},
		{"text_config.hidden_size", func(c *Mllama) { c.TextConfig.HiddenSize = 66 }},
		{"text_config.num_attention_heads", func(c *Mllama) { c.TextConfig.NumKeyValueHeads = 3 }},
		{"text_config.rope_scaling.rope_type", func(c *Mllama) { c.TextConfig.RopeScaling.RopeType = "dynamic" }},
		{"text_config.pad_token_id", func(c *Mllama) { c.TextConfig.PadTokenID = intPtr(-1) }},
		{"text_config.model_type", func(c *Mllama) { c.TextConfig.ModelType = "llama" }},
		{"vision_config.attention_heads", func(c *Mllama) { c.VisionConfig.AttentionHeads = 0 }},
		{"vision_config.hidden_size", func(c *Mllama) { c.VisionConfig.AttentionHeads = 5 }},
		{"vision_config.num_global_layers", func(c *Mllama) { c.VisionConfig.NumGlobalLayers = 0 }},
		{"vision_config.max_num_tiles", func(c *Mllama) { c.VisionConfig.MaxNumTiles = MaxTiles + 1 }},
		{"vision_config.norm_eps", func(c *Mllama) { c.VisionConfig.NormEps = -1 }},
		{"vision_config.hidden_act", func(c *Mllama) { c.VisionConfig.HiddenAct = "selu" }},
		{"vision_config.patch_size", func(c *Mllama) { c.VisionConfig.PatchSize = 12 }},
		{"vision_config.intermediate_layers_indices", func(c *Mllama) { c.VisionConfig.IntermediateLayersIndices = []int{0, 4} }},
		{"vision_config.intermediate_layers_indices", func(c *Mllama) { c.VisionConfig.IntermediateLayersIndices = []int{-1, 2} }},
		{"vision_config.vision_output_dim", func(c *Mllama) { c.VisionConfig.VisionOutputDim = 128 }},
		{"vision_config.supported_aspect_ratios", func(c *Mllama) { c.VisionConfig.SupportedAspectRatios = nil }},
		{"vision_config.supported_aspect_ratios", func(c *Mllama) { c.VisionConfig.SupportedAspectRatios = [][]int{{1}} }},
		{"vision_config.supported_aspect_ratios", func(c *Mllama) { c.VisionConfig.SupportedAspectRatios = [][]int{{2, 2}} }},
		{"vision_config.supported_aspect_ratios", func(c *Mllama) { c.VisionConfig.SupportedAspectRatios = [][]int{{0, 1}} }},
	}
	for _, tc := range cases {
		c := MllamaTiny()
		tc.mutate(&c)
		requireKeyErr(t, c.Validate(), tc.key)
	}
	// The mllama image token may lie in the 8 extra embedding rows.
	c := MllamaTiny()
	c.ImageTokenIndex = 391
	require.NoError(t, c.Validate())
}

func TestValidateGenerationRules(t *testing.T) {
	cases := []struct {
		key    string
		mutate func(g *GenerationConfig)
	}{
		{"max_length", func(g *GenerationConfig) { g.MaxLength = -1 }},
		{"max_new_tokens", func(g *GenerationConfig) { g.MaxNewTokens = intPtr(-1) }},
		{"temperature", func(g *GenerationConfig) { g.Temperature = -0.5 }},
		{"top_k", func(g *GenerationConfig) { g.TopK = -1 }},
		{"top_p", func(g *GenerationConfig) { g.TopP = 0 }},
		{"repetition_penalty", func(g *GenerationConfig) { g.RepetitionPenalty = 0 }},
		{"eos_token_id", func(g *GenerationConfig) { g.EOSTokenID = TokenIDs{-3} }},
		{"bos_token_id", func(g *GenerationConfig) { g.BOSTokenID = intPtr(-3) }},
	}
	for _, tc := range cases {
		g := DefaultGeneration()
		tc.mutate(&g)
		requireKeyErr(t, g.Validate(), tc.key)
	}
}

// TestParseErrors checks that JSON-level problems name the offending key.
func TestParseErrors(t *testing.T) {
	golden := readTestdata(t, "llava_tiny")
	cases := []struct {
		name, key string
		doc       string
	}{
		{"missing model_type", "model_type", `{"hidden_size":64}`},
		{"model_type not a string", "model_type", `{"model_type":7}`},
		{"unsupported model_type", "model_type", `{"model_type":"mistral"}`},
		{"string size", "hidden_size", `{"model_type":"llama","hidden_size":"64"}`},
		{"float size", "num_hidden_layers", `{"model_type":"llama","num_hidden_layers":2.5}`},
		{"huge layers", "num_hidden_layers", `{"model_type":"llama","num_hidden_layers":1000000000000}`},
		{"exp layers", "num_hidden_layers", `{"model_type":"llama","num_hidden_layers":1e12}`},
		{"bool act", "hidden_act", `{"model_type":"llama","hidden_act":true}`},
		{"eos string", "eos_token_id", `{"model_type":"llama","eos_token_id":"2"}`},
		{"eos float list", "eos_token_id", `{"model_type":"llama","eos_token_id":[2,2.5]}`},
		{"rope not object", "rope_scaling", `{"model_type":"llama","rope_scaling":"llama3"}`},
		{"rope factor string", "rope_scaling.factor", `{"model_type":"llama","rope_scaling":{"rope_type":"llama3","factor":"8"}}`},
		{"head_dim zero", "head_dim", `{"model_type":"llama","head_dim":0}`},
		{"nested wrong type", "text_config.hidden_size",
			strings.Replace(golden, `"hidden_size": 64,`, `"hidden_size": [64],`, 1)},
		{"nested vision wrong type", "vision_config.patch_size",
			strings.Replace(golden, `"patch_size": 8,`, `"patch_size": "8",`, 1)},
		{"text_config not object", "text_config", `{"model_type":"llava","text_config":5}`},
		{"nested rope", "text_config.rope_scaling.rope_type",
			`{"model_type":"mllama","text_config":{"rope_scaling":{"rope_type":"linear","factor":2}}}`},
		{"feature layer string", "vision_feature_layer", `{"model_type":"llava","vision_feature_layer":"-2"}`},
		{"aspect ratios flat", "vision_config.supported_aspect_ratios",
			`{"model_type":"mllama","vision_config":{"supported_aspect_ratios":[1,2]}}`},
		{"nested validate", "text_config.vocab_size", `{"model_type":"llava","text_config":{"vocab_size":0}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			requireKeyErr(t, err, tc.key)
		})
	}
	for _, doc := range []string{``, `{`, `[]`, `"llama"`, `null`, `{"model_type":"llama"} x`} {
		_, err := Parse([]byte(doc))
		require.ErrorIs(t, err, ErrInvalid, "%q", doc)
	}
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := readCapped("testdata/" + name + "/config.json")
	require.NoError(t, err)
	return string(b)
}

// TestRoundTrip checks that marshalling a parsed config and parsing it again
// gives the same value (so configs built in code can be saved).
func TestRoundTrip(t *testing.T) {
	for _, name := range []string{"llama_tiny", "clip_tiny", "llava_tiny", "mllama_tiny"} {
		m := loadCase(t, name)
		var v any
		switch {
		case m.Llama != nil:
			v = m.Llama
		case m.CLIPVision != nil:
			v = m.CLIPVision
		case m.Llava != nil:
			v = m.Llava
		default:
			v = m.Mllama
		}
		b, err := json.Marshal(v)
		require.NoError(t, err)
		m2, err := Parse(b)
		require.NoError(t, err, string(b))
		require.Equal(t, m, m2, name)
	}
}
