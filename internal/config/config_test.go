package config

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func loadCase(t *testing.T, name string) *Model {
	t.Helper()
	m, err := Load(filepath.Join("testdata", name))
	require.NoError(t, err)
	return m
}

func TestLoadLlamaTiny(t *testing.T) {
	m := loadCase(t, "llama_tiny")
	require.Equal(t, "llama", m.ModelType)
	require.NotNil(t, m.Llama)
	require.Nil(t, m.CLIPVision)
	require.Nil(t, m.Llava)
	require.Nil(t, m.Mllama)
	c := m.Llama
	// Literals from testdata/llama_tiny/config.json.
	require.Equal(t, 384, c.VocabSize)
	require.Equal(t, 64, c.HiddenSize)
	require.Equal(t, 176, c.IntermediateSize)
	require.Equal(t, 4, c.NumHiddenLayers)
	require.Equal(t, 4, c.NumAttentionHeads)
	require.Equal(t, 2, c.NumKeyValueHeads)
	require.Equal(t, 16, c.HeadDim())
	require.Equal(t, 256, c.MaxPositionEmbeddings)
	require.Equal(t, 1e-5, c.RMSNormEps)
	require.Equal(t, 10000.0, c.RopeTheta)
	require.Nil(t, c.RopeScaling)
	require.False(t, c.TieWordEmbeddings)
	require.Equal(t, 1, *c.BOSTokenID)
	require.Equal(t, TokenIDs{2}, c.EOSTokenID)
	require.Nil(t, c.PadTokenID)
	require.Equal(t, LlamaTiny(), *c)
}

func TestLoadCLIPTiny(t *testing.T) {
	m := loadCase(t, "clip_tiny")
	require.Equal(t, "clip_vision_model", m.ModelType)
	c := m.CLIPVision
	require.NotNil(t, c)
	require.Equal(t, 64, c.HiddenSize)
	require.Equal(t, 128, c.IntermediateSize)
	require.Equal(t, 3, c.NumHiddenLayers)
	require.Equal(t, 4, c.NumAttentionHeads)
	require.Equal(t, 32, c.ImageSize)
	require.Equal(t, 8, c.PatchSize)
	require.Equal(t, "quick_gelu", c.HiddenAct)
	require.Equal(t, 1e-5, c.LayerNormEps)
	// README: 16 patches + CLS = 17 tokens.
	require.Equal(t, 4, c.GridSize())
	require.Equal(t, 16, c.NumPatches())
	require.Equal(t, 17, c.NumPositions())
	require.Equal(t, 16, c.HeadDim())
	require.Equal(t, CLIPTiny(), *c)
}

func TestLoadLlava(t *testing.T) {
	for _, name := range []string{"llava_tiny", "llava_tiny_2img"} {
		t.Run(name, func(t *testing.T) {
			m := loadCase(t, name)
			require.Equal(t, "llava", m.ModelType)
			c := m.Llava
			require.NotNil(t, c)
			require.Equal(t, 383, c.ImageTokenIndex)
			require.Equal(t, "gelu", c.ProjectorHiddenAct)
			require.Equal(t, IntList{-2}, c.VisionFeatureLayer)
			require.Equal(t, "default", c.VisionFeatureSelectStrategy)
			require.Equal(t, 16, c.ImageSeqLength)
			require.Equal(t, 384, c.TextConfig.VocabSize)
			require.Equal(t, 2, c.TextConfig.NumKeyValueHeads)
			require.Equal(t, "clip_vision_model", c.VisionConfig.ModelType)
			require.Equal(t, 8, c.VisionConfig.PatchSize)
			// README: layer -2 of 4 hidden-state entries is entry 2.
			require.Equal(t, []int{2}, c.FeatureLayerIndices())
			require.Equal(t, 16, c.ImageFeatureTokens())
			require.Equal(t, 64, c.ProjectorInputDim())
			// The vision sub-dict carries tie_word_embeddings true and no
			// effect; the top level omits it (PretrainedConfig default true).
			require.True(t, c.TieWordEmbeddings)
			require.Equal(t, LlavaTiny(), *c)
		})
	}
}

func TestLoadMllama(t *testing.T) {
	for _, name := range []string{"mllama_tiny", "mllama_tiny_gate0"} {
		t.Run(name, func(t *testing.T) {
			m := loadCase(t, name)
			require.Equal(t, "mllama", m.ModelType)
			c := m.Mllama
			require.NotNil(t, c)
			require.Equal(t, 383, c.ImageTokenIndex)
			tc, vc := c.TextConfig, c.VisionConfig
			require.Equal(t, 5, tc.NumHiddenLayers)
			require.Equal(t, []int{1, 3}, tc.CrossAttentionLayers)
			require.True(t, tc.IsCrossAttentionLayer(3))
			require.False(t, tc.IsCrossAttentionLayer(2))
			require.Equal(t, 131072, tc.MaxPositionEmbeddings)
			require.Equal(t, 500000.0, tc.RopeTheta)
			require.Equal(t, &RopeScaling{RopeType: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4,
				OriginalMaxPositionEmbeddings: 8192}, tc.RopeScaling)
			require.Equal(t, 0, *tc.PadTokenID)
			require.Equal(t, 392, tc.NumEmbeddings()) // README: embed_tokens has vocab+8 = 392 rows
			require.Equal(t, 4, vc.AttentionHeads)
			require.Equal(t, 2, vc.NumGlobalLayers)
			require.Equal(t, []int{0, 2}, vc.IntermediateLayersIndices)
			require.Equal(t, [][]int{{1, 1}, {1, 2}, {2, 1}}, vc.SupportedAspectRatios)
			require.Equal(t, 3, vc.MaxAspectRatioID())
			require.Equal(t, 192, vc.VisionOutputDim)
			require.Equal(t, 17, vc.TileTokens())       // README: 16 patches + CLS
			require.Equal(t, 24, vc.PaddedTileTokens()) // README: padded to 24
			require.Equal(t, MllamaTiny(), *c)

			l := tc.AsLlama()
			require.NoError(t, l.Validate())
			require.Equal(t, 16, l.HeadDim())
			require.Equal(t, tc.RopeScaling, l.RopeScaling)
			require.NotSame(t, tc.RopeScaling, l.RopeScaling)
		})
	}
}

func TestLoadGeneration(t *testing.T) {
	g, err := LoadGeneration(filepath.Join("testdata", "mllama_tiny"))
	require.NoError(t, err)
	require.NotNil(t, g)
	require.Equal(t, 1, *g.BOSTokenID)
	require.Equal(t, TokenIDs{2}, g.EOSTokenID)
	require.Equal(t, 0, *g.PadTokenID)
	// Absent keys take GenerationConfig defaults.
	require.Equal(t, 20, g.MaxLength)
	require.Nil(t, g.MaxNewTokens)
	require.Equal(t, 50, g.TopK)
	require.Equal(t, 1.0, g.TopP)
	require.False(t, g.DoSample)

	g, err = LoadGeneration(filepath.Join("testdata", "clip_tiny"))
	require.NoError(t, err)
	require.Nil(t, g)

	g, err = ParseGeneration([]byte(`{"eos_token_id":[128001,128008,128009],"max_new_tokens":7,"do_sample":true,"temperature":0.6,"top_p":0.9}`))
	require.NoError(t, err)
	require.Equal(t, TokenIDs{128001, 128008, 128009}, g.EOSTokenID)
	require.Equal(t, 7, *g.MaxNewTokens)
	require.Equal(t, 0.6, g.Temperature)
	require.Equal(t, 0.9, g.TopP)

	_, err = ParseGeneration([]byte(`{"top_p":1.5}`))
	requireKeyErr(t, err, "top_p")
	_, err = ParseGeneration([]byte(`{"do_sample":true,"temperature":0}`))
	requireKeyErr(t, err, "temperature")
	_, err = ParseGeneration([]byte(`{"eos_token_id":"x"}`))
	requireKeyErr(t, err, "eos_token_id")
}

func TestLoadMissingDir(t *testing.T) {
	_, err := Load(filepath.Join("testdata", "no_such_case"))
	require.Error(t, err)
	require.Contains(t, err.Error(), "config.json")
}

func TestLoadSizeCap(t *testing.T) {
	dir := t.TempDir()
	big := make([]byte, MaxConfigBytes+1)
	for i := range big {
		big[i] = ' '
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, ConfigFile), big, 0o600))
	_, err := Load(dir)
	require.ErrorIs(t, err, ErrInvalid)
	require.Contains(t, err.Error(), "limit")
	_, err = Parse(big)
	require.ErrorIs(t, err, ErrInvalid)
}

func TestDefaultsLlama(t *testing.T) {
	m, err := Parse([]byte(`{"model_type":"llama","hidden_size":64,"num_attention_heads":4,"vocab_size":100,"eos_token_id":[2,7],"pad_token_id":null}`))
	require.NoError(t, err)
	c := m.Llama
	require.Equal(t, 4, c.NumKeyValueHeads) // = num_attention_heads
	require.Equal(t, 0, c.HeadDimension)
	require.Equal(t, 16, c.HeadDim()) // = 64/4
	require.Equal(t, 11008, c.IntermediateSize)
	require.Equal(t, 32, c.NumHiddenLayers)
	require.Equal(t, 2048, c.MaxPositionEmbeddings)
	require.Equal(t, 1e-6, c.RMSNormEps)
	require.Equal(t, 10000.0, c.RopeTheta)
	require.Equal(t, "silu", c.HiddenAct)
	require.Equal(t, 1, *c.BOSTokenID)
	require.Equal(t, TokenIDs{2, 7}, c.EOSTokenID)
	require.Nil(t, c.PadTokenID)

	// Explicit nulls for the derived fields behave like absence.
	m, err = Parse([]byte(`{"model_type":"llama","hidden_size":64,"num_attention_heads":8,"num_key_value_heads":null,"head_dim":null,"vocab_size":100}`))
	require.NoError(t, err)
	require.Equal(t, 8, m.Llama.NumKeyValueHeads)
	require.Equal(t, 8, m.Llama.HeadDim())

	// Explicit head_dim overrides the derivation (hidden need not divide).
	m, err = Parse([]byte(`{"model_type":"llama","hidden_size":60,"num_attention_heads":4,"head_dim":32,"vocab_size":100}`))
	require.NoError(t, err)
	require.Equal(t, 32, m.Llama.HeadDim())
}

func TestDefaultsRopeLegacyType(t *testing.T) {
	m, err := Parse([]byte(`{"model_type":"llama","vocab_size":100,"hidden_size":64,"num_attention_heads":4,
		"rope_scaling":{"type":"llama3","factor":32,"low_freq_factor":1,"high_freq_factor":4,"original_max_position_embeddings":8192}}`))
	require.NoError(t, err)
	require.Equal(t, "llama3", m.Llama.RopeScaling.RopeType)
	require.Equal(t, "llama3", m.Llama.RopeScaling.Type())
	require.Equal(t, "default", (*RopeScaling)(nil).Type())
	require.Equal(t, 32.0, m.Llama.RopeScaling.Factor)

	m, err = Parse([]byte(`{"model_type":"llama","vocab_size":100,"hidden_size":64,"num_attention_heads":4,"rope_scaling":{"rope_type":"default"}}`))
	require.NoError(t, err)
	require.Equal(t, "default", m.Llama.RopeScaling.RopeType)
}

func TestDefaultsLlava(t *testing.T) {
	// No sub-configs at all: LlamaConfig() and LLaVA's CLIP-L/14-336 tower.
	// HF's own default (image token 32000 in a 32000-token vocabulary) cannot
	// embed its image token, so Validate rejects it.
	_, err := Parse([]byte(`{"model_type":"llava"}`))
	requireKeyErr(t, err, "image_token_index")
	m, err := Parse([]byte(`{"model_type":"llava","text_config":{"vocab_size":32064}}`))
	require.NoError(t, err)
	c := m.Llava
	require.Equal(t, 4096, c.TextConfig.HiddenSize)
	require.Equal(t, 1024, c.VisionConfig.HiddenSize)
	require.Equal(t, 336, c.VisionConfig.ImageSize)
	require.Equal(t, 14, c.VisionConfig.PatchSize)
	require.Equal(t, 24, c.VisionConfig.NumHiddenLayers)
	require.Equal(t, 576, c.VisionConfig.NumPatches())
	require.Equal(t, 576, c.ImageSeqLength)
	require.Equal(t, IntList{-2}, c.VisionFeatureLayer)
	require.Equal(t, []int{23}, c.FeatureLayerIndices())
	require.Equal(t, "default", c.VisionFeatureSelectStrategy)
	require.Equal(t, "gelu", c.ProjectorHiddenAct)
	require.Equal(t, 32000, c.ImageTokenIndex)
	require.Equal(t, 32064, c.TextConfig.VocabSize)
	require.Equal(t, "llama", c.TextConfig.ModelType)

	// A present vision_config starts from CLIPVisionConfig() defaults
	// (ViT-B/32: patch 32, image 224), not LLaVA's fallback tower.
	m, err = Parse([]byte(`{"model_type":"llava","text_config":{"vocab_size":32064},"vision_config":{"hidden_size":1024,"num_attention_heads":16},"vision_feature_layer":[-2,-5],"vision_feature_select_strategy":"full"}`))
	require.NoError(t, err)
	c = m.Llava
	require.Equal(t, 32, c.VisionConfig.PatchSize)
	require.Equal(t, 224, c.VisionConfig.ImageSize)
	require.Equal(t, 12, c.VisionConfig.NumHiddenLayers)
	require.Equal(t, 3072, c.VisionConfig.IntermediateSize)
	require.Equal(t, []int{11, 8}, c.FeatureLayerIndices())
	require.Equal(t, 50, c.ImageFeatureTokens()) // 7*7 patches + CLS
	require.Equal(t, 2048, c.ProjectorInputDim())
}

func TestDefaultsMllama(t *testing.T) {
	m, err := Parse([]byte(`{"model_type":"mllama"}`))
	require.NoError(t, err)
	c := m.Mllama
	require.Equal(t, Llama32Vision11BVision(), c.VisionConfig)
	require.Equal(t, 128256, c.ImageTokenIndex)
	tc := c.TextConfig
	require.Equal(t, 40, tc.NumHiddenLayers)
	require.Equal(t, []int{3, 8, 13, 18, 23, 28, 33, 38}, tc.CrossAttentionLayers)
	require.Equal(t, 8, tc.NumKeyValueHeads)
	require.Equal(t, 128004, *tc.PadTokenID)
	require.Nil(t, tc.RopeScaling) // HF default is null
	vc := c.VisionConfig
	require.Equal(t, 1025, vc.TileTokens())
	require.Equal(t, 1032, vc.PaddedTileTokens())
	require.Equal(t, 8, vc.MaxAspectRatioID())
	require.Equal(t, 7680, vc.VisionOutputDim)

	// "num_attention_heads" is accepted for the vision tower when
	// "attention_heads" is absent; HF's default aspect-ratio list needs 4 tiles.
	m, err = Parse([]byte(`{"model_type":"mllama","vision_config":{"num_attention_heads":8}}`))
	require.NoError(t, err)
	require.Equal(t, 8, m.Mllama.VisionConfig.AttentionHeads)
	_, err = Parse([]byte(`{"model_type":"mllama","vision_config":{"max_num_tiles":2}}`))
	requireKeyErr(t, err, "vision_config.supported_aspect_ratios")
}

func requireKeyErr(t *testing.T, err error, key string) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, ErrInvalid)
	var ke *KeyError
	require.True(t, errors.As(err, &ke), "error %q is not a *KeyError", err)
	require.Equal(t, key, ke.Key, "error: %v", err)
	require.Contains(t, err.Error(), key)
}

func TestIntListDecoding(t *testing.T) {
	cases := []struct {
		in   string
		want IntList
		ok   bool
	}{
		{`3`, IntList{3}, true},
		{`-2`, IntList{-2}, true},
		{`2.0`, IntList{2}, true}, // Python sometimes writes integral floats
		{`[1, 2, 3]`, IntList{1, 2, 3}, true},
		{`[]`, nil, true},
		{`null`, nil, true},
		{`2.5`, nil, false},
		{`"2"`, nil, false},
		{`true`, nil, false},
		{`{}`, nil, false},
		{`[1, [2]]`, nil, false},
		{`2147483648`, nil, false}, // beyond int32
		{`-2147483649`, nil, false},
		{`1e400`, nil, false},
	}
	for _, tc := range cases {
		var l IntList
		err := json.Unmarshal([]byte(tc.in), &l)
		if !tc.ok {
			require.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, l, tc.in)
	}
	b, err := json.Marshal(struct {
		A IntList  `json:"a"`
		B TokenIDs `json:"b"`
		C TokenIDs `json:"c"`
	}{IntList{-2}, TokenIDs{1, 2}, nil})
	require.NoError(t, err)
	require.JSONEq(t, `{"a":-2,"b":[1,2],"c":null}`, string(b))
}

func TestMllamaVisionDerived(t *testing.T) {
	v := Llama32Vision11BVision()
	require.Equal(t, 80, v.HeadDim()) // 1280 / 16
	require.Equal(t, 32, v.GridSize())
	require.Equal(t, 1024, v.NumPatches())
	var zero MllamaVision
	require.Equal(t, 0, zero.HeadDim())
	require.Equal(t, 0, zero.GridSize())
	var zl Llama
	require.Equal(t, 0, zl.HeadDim())
}

// llava15Config is llava-hf/llava-1.5-7b-hf's published config.json: its
// text_config is partial, so most text sizes come from LlamaConfig defaults.
const llava15Config = `{
  "architectures": ["LlavaForConditionalGeneration"],
  "ignore_index": -100,
  "image_token_index": 32000,
  "model_type": "llava",
  "pad_token_id": 32001,
  "projector_hidden_act": "gelu",
  "text_config": {
    "_name_or_path": "lmsys/vicuna-7b-v1.5",
    "architectures": ["LlamaForCausalLM"],
    "max_position_embeddings": 4096,
    "model_type": "llama",
    "rms_norm_eps": 1e-05,
    "torch_dtype": "float16",
    "vocab_size": 32064
  },
  "tie_word_embeddings": false,
  "torch_dtype": "float16",
  "transformers_version": "4.36.0.dev0",
  "vision_config": {
    "hidden_size": 1024,
    "image_size": 336,
    "intermediate_size": 4096,
    "model_type": "clip_vision_model",
    "num_attention_heads": 16,
    "num_hidden_layers": 24,
    "patch_size": 14,
    "projection_dim": 768,
    "vocab_size": 32000
  },
  "vision_feature_layer": -2,
  "vision_feature_select_strategy": "default",
  "vocab_size": 32064
}`

func TestParseLlava15Partial(t *testing.T) {
	m, err := Parse([]byte(llava15Config))
	require.NoError(t, err)
	c := m.Llava
	tc := c.TextConfig
	// Vicuna-7B = Llama-2-7B shapes, all from LlamaConfig defaults.
	require.Equal(t, 4096, tc.HiddenSize)
	require.Equal(t, 11008, tc.IntermediateSize)
	require.Equal(t, 32, tc.NumHiddenLayers)
	require.Equal(t, 32, tc.NumAttentionHeads)
	require.Equal(t, 32, tc.NumKeyValueHeads)
	require.Equal(t, 128, tc.HeadDim())
	require.Equal(t, 4096, tc.MaxPositionEmbeddings)
	require.Equal(t, 1e-5, tc.RMSNormEps)
	require.Equal(t, 32064, tc.VocabSize)
	require.Equal(t, CLIPViTL14_336(), c.VisionConfig)
	require.Equal(t, 576, c.ImageFeatureTokens())
	require.Equal(t, []int{23}, c.FeatureLayerIndices())
	require.False(t, c.TieWordEmbeddings)
	require.Equal(t, 576, c.ImageSeqLength)
}

// smolLM2Config is HuggingFaceTB/SmolLM2-135M's published config.json.
const smolLM2Config = `{
  "architectures": ["LlamaForCausalLM"],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 0,
  "eos_token_id": 0,
  "head_dim": 64,
  "hidden_act": "silu",
  "hidden_size": 576,
  "initializer_range": 0.041666666666666664,
  "intermediate_size": 1536,
  "is_llama_config": true,
  "max_position_embeddings": 8192,
  "mlp_bias": false,
  "model_type": "llama",
  "num_attention_heads": 9,
  "num_hidden_layers": 30,
  "num_key_value_heads": 3,
  "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_interleaved": false,
  "rope_scaling": null,
  "rope_theta": 100000,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.40.1",
  "use_cache": true,
  "vocab_size": 49152
}`

func TestParseSmolLM2(t *testing.T) {
	m, err := Parse([]byte(smolLM2Config))
	require.NoError(t, err)
	require.Equal(t, SmolLM2_135M(), *m.Llama)
}
