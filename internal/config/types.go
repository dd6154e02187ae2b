package config

// Activation names accepted in hidden_act / projector_hidden_act (HF ACT2FN keys).
const (
	ActSiLU            = "silu"
	ActGELU            = "gelu"              // exact erf GELU
	ActGELUNew         = "gelu_new"          // tanh approximation
	ActGELUPytorchTanh = "gelu_pytorch_tanh" // tanh approximation (same formula as gelu_new)
	ActQuickGELU       = "quick_gelu"        // x*sigmoid(1.702x)
	ActReLU            = "relu"
	ActTanh            = "tanh"
)

// Model types understood by Parse (the "model_type" key of config.json).
const (
	ModelTypeLlama        = "llama"
	ModelTypeCLIPVision   = "clip_vision_model"
	ModelTypeLlava        = "llava"
	ModelTypeMllama       = "mllama"
	ModelTypeMllamaText   = "mllama_text_model"
	ModelTypeMllamaVision = "mllama_vision_model"
)

// Vision feature select strategies of LLaVA.
const (
	StrategyDefault = "default" // drop the CLS token
	StrategyFull    = "full"    // keep every token
)

// Rope types.
const (
	RopeDefault = "default"
	RopeLlama3  = "llama3"
)

// RopeScaling is HF's rope_scaling dict. A nil *RopeScaling (JSON null) means
// plain RoPE. HF accepts the legacy key "type" for "rope_type"; after JSON
// decoding RopeType holds whichever was given ("rope_type" wins).
type RopeScaling struct {
	RopeType                      string  `json:"rope_type"`
	Factor                        float64 `json:"factor,omitempty"`
	LowFreqFactor                 float64 `json:"low_freq_factor,omitempty"`
	HighFreqFactor                float64 `json:"high_freq_factor,omitempty"`
	OriginalMaxPositionEmbeddings int     `json:"original_max_position_embeddings,omitempty"`
}

// Llama is HF's LlamaConfig (model_type "llama"), also LLaVA's text_config.
type Llama struct {
	ModelType         string `json:"model_type"`
	VocabSize         int    `json:"vocab_size"`
	HiddenSize        int    `json:"hidden_size"`
	IntermediateSize  int    `json:"intermediate_size"`
	NumHiddenLayers   int    `json:"num_hidden_layers"`
	NumAttentionHeads int    `json:"num_attention_heads"`
	NumKeyValueHeads  int    `json:"num_key_value_heads"`
	// HeadDimension is the explicit head_dim; 0 means "absent", and HeadDim()
	// then derives hidden_size/num_attention_heads as HF does.
	HeadDimension         int          `json:"head_dim,omitempty"`
	HiddenAct             string       `json:"hidden_act"`
	MaxPositionEmbeddings int          `json:"max_position_embeddings"`
	RMSNormEps            float64      `json:"rms_norm_eps"`
	RopeTheta             float64      `json:"rope_theta"`
	RopeScaling           *RopeScaling `json:"rope_scaling"`
	AttentionBias         bool         `json:"attention_bias"`
	MLPBias               bool         `json:"mlp_bias"`
	TieWordEmbeddings     bool         `json:"tie_word_embeddings"`
	BOSTokenID            *int         `json:"bos_token_id"`
	EOSTokenID            TokenIDs     `json:"eos_token_id"`
	PadTokenID            *int         `json:"pad_token_id"`
}

// CLIPVision is HF's CLIPVisionConfig (model_type "clip_vision_model").
type CLIPVision struct {
	ModelType         string  `json:"model_type"`
	HiddenSize        int     `json:"hidden_size"`
	IntermediateSize  int     `json:"intermediate_size"`
	NumHiddenLayers   int     `json:"num_hidden_layers"`
	NumAttentionHeads int     `json:"num_attention_heads"`
	NumChannels       int     `json:"num_channels"`
	ImageSize         int     `json:"image_size"`
	PatchSize         int     `json:"patch_size"`
	HiddenAct         string  `json:"hidden_act"`
	LayerNormEps      float64 `json:"layer_norm_eps"`
	ProjectionDim     int     `json:"projection_dim"`
}

// Llava is HF's LlavaConfig (model_type "llava").
type Llava struct {
	ModelType                   string     `json:"model_type"`
	TextConfig                  Llama      `json:"text_config"`
	VisionConfig                CLIPVision `json:"vision_config"`
	ImageTokenIndex             int        `json:"image_token_index"`
	ProjectorHiddenAct          string     `json:"projector_hidden_act"`
	VisionFeatureLayer          IntList    `json:"vision_feature_layer"`
	VisionFeatureSelectStrategy string     `json:"vision_feature_select_strategy"`
	ImageSeqLength              int        `json:"image_seq_length"`
	// TieWordEmbeddings is the top-level PretrainedConfig flag (default true).
	// HF ties LLaVA's lm_head according to TextConfig.TieWordEmbeddings.
	TieWordEmbeddings bool `json:"tie_word_embeddings"`
}

// MllamaVision is HF's MllamaVisionConfig (model_type "mllama_vision_model").
type MllamaVision struct {
	ModelType                 string  `json:"model_type"`
	HiddenSize                int     `json:"hidden_size"`
	IntermediateSize          int     `json:"intermediate_size"`
	NumHiddenLayers           int     `json:"num_hidden_layers"`
	NumGlobalLayers           int     `json:"num_global_layers"`
	AttentionHeads            int     `json:"attention_heads"`
	NumChannels               int     `json:"num_channels"`
	ImageSize                 int     `json:"image_size"`
	PatchSize                 int     `json:"patch_size"`
	HiddenAct                 string  `json:"hidden_act"`
	NormEps                   float64 `json:"norm_eps"`
	MaxNumTiles               int     `json:"max_num_tiles"`
	IntermediateLayersIndices []int   `json:"intermediate_layers_indices"`
	SupportedAspectRatios     [][]int `json:"supported_aspect_ratios"`
	VisionOutputDim           int     `json:"vision_output_dim"`
}

// MllamaText is HF's MllamaTextConfig (model_type "mllama_text_model").
type MllamaText struct {
	ModelType             string       `json:"model_type"`
	VocabSize             int          `json:"vocab_size"`
	HiddenSize            int          `json:"hidden_size"`
	IntermediateSize      int          `json:"intermediate_size"`
	NumHiddenLayers       int          `json:"num_hidden_layers"`
	NumAttentionHeads     int          `json:"num_attention_heads"`
	NumKeyValueHeads      int          `json:"num_key_value_heads"`
	HiddenAct             string       `json:"hidden_act"`
	MaxPositionEmbeddings int          `json:"max_position_embeddings"`
	RMSNormEps            float64      `json:"rms_norm_eps"`
	RopeTheta             float64      `json:"rope_theta"`
	RopeScaling           *RopeScaling `json:"rope_scaling"`
	CrossAttentionLayers  []int        `json:"cross_attention_layers"`
	TieWordEmbeddings     bool         `json:"tie_word_embeddings"`
	BOSTokenID            *int         `json:"bos_token_id"`
	EOSTokenID            TokenIDs     `json:"eos_token_id"`
	PadTokenID            *int         `json:"pad_token_id"`
}

// Mllama is HF's MllamaConfig (model_type "mllama").
type Mllama struct {
	ModelType       string       `json:"model_type"`
	TextConfig      MllamaText   `json:"text_config"`
	VisionConfig    MllamaVision `json:"vision_config"`
	ImageTokenIndex int          `json:"image_token_index"`
}

// GenerationConfig is the subset of HF's generation_config.json Fovea uses.
type GenerationConfig struct {
	BOSTokenID        *int     `json:"bos_token_id"`
	EOSTokenID        TokenIDs `json:"eos_token_id"`
	PadTokenID        *int     `json:"pad_token_id"`
	MaxLength         int      `json:"max_length"`
	MaxNewTokens      *int     `json:"max_new_tokens"`
	DoSample          bool     `json:"do_sample"`
	Temperature       float64  `json:"temperature"`
	TopK              int      `json:"top_k"`
	TopP              float64  `json:"top_p"`
	RepetitionPenalty float64  `json:"repetition_penalty"`
}

// Model is a parsed config.json: exactly one of the pointers is non-nil,
// selected by ModelType.
type Model struct {
	ModelType  string
	Llama      *Llama
	CLIPVision *CLIPVision
	Llava      *Llava
	Mllama     *Mllama
}
