package config

// HF default values (transformers v4.45.2 configuration_*.py) for keys that
// are absent from config.json. Each Default* function returns a fresh value,
// so callers may modify it.

const (
	defaultLlamaVocab        = 32000
	defaultLlamaHidden       = 4096
	defaultLlamaIntermediate = 11008
	defaultLlamaLayers       = 32
	defaultLlamaHeads        = 32
	defaultLlamaMaxPos       = 2048
	defaultLlamaRMSEps       = 1e-6
	defaultRopeTheta         = 10000.0
	defaultLlamaBOS          = 1
	defaultLlamaEOS          = 2

	defaultCLIPHidden       = 768
	defaultCLIPIntermediate = 3072
	defaultCLIPProjection   = 512
	defaultCLIPLayers       = 12
	defaultCLIPHeads        = 12
	defaultChannels         = 3
	defaultCLIPImage        = 224
	defaultCLIPPatch        = 32
	defaultLayerNormEps     = 1e-5

	// LLaVA's fallback vision tower when vision_config is absent (CLIP ViT-L/14 at 336px).
	llavaCLIPHidden       = 1024
	llavaCLIPIntermediate = 4096
	llavaCLIPLayers       = 24
	llavaCLIPHeads        = 16
	llavaCLIPImage        = 336
	llavaCLIPPatch        = 14
	llavaCLIPProjection   = 768

	defaultLlavaImageToken     = 32000
	defaultLlavaFeatureLayer   = -2
	defaultLlavaImageSeqLength = 576

	defaultMllamaVisionHidden       = 1280
	defaultMllamaVisionLayers       = 32
	defaultMllamaVisionGlobalLayers = 8
	defaultMllamaVisionHeads        = 16
	defaultMllamaVisionIntermediate = 5120
	defaultMllamaVisionOutputDim    = 7680
	defaultMllamaVisionImage        = 448
	defaultMllamaVisionPatch        = 14
	defaultMllamaMaxTiles           = 4

	defaultMllamaTextVocab        = 128256
	defaultMllamaTextHidden       = 4096
	defaultMllamaTextLayers       = 40
	defaultMllamaTextHeads        = 32
	defaultMllamaTextKVHeads      = 8
	defaultMllamaTextIntermediate = 14336
	defaultMllamaRopeTheta        = 500000.0
	defaultMllamaRMSEps           = 1e-5
	defaultMllamaMaxPos           = 131072
	defaultMllamaBOS              = 128000
	defaultMllamaEOS              = 128001
	defaultMllamaPad              = 128004
	defaultMllamaImageToken       = 128256

	defaultGenMaxLength   = 20
	defaultGenTemperature = 1.0
	defaultGenTopK        = 50
	defaultGenTopP        = 1.0
	defaultGenRepetition  = 1.0
)

func intPtr(v int) *int { return &v }

// DefaultLlama is HF's LlamaConfig() (Llama-2-7B-like).
func DefaultLlama() Llama {
	return Llama{
		ModelType:             ModelTypeLlama,
		VocabSize:             defaultLlamaVocab,
		HiddenSize:            defaultLlamaHidden,
		IntermediateSize:      defaultLlamaIntermediate,
		NumHiddenLayers:       defaultLlamaLayers,
		NumAttentionHeads:     defaultLlamaHeads,
		NumKeyValueHeads:      defaultLlamaHeads,
		HiddenAct:             ActSiLU,
		MaxPositionEmbeddings: defaultLlamaMaxPos,
		RMSNormEps:            defaultLlamaRMSEps,
		RopeTheta:             defaultRopeTheta,
		BOSTokenID:            intPtr(defaultLlamaBOS),
		EOSTokenID:            TokenIDs{defaultLlamaEOS},
	}
}

// DefaultCLIPVision is HF's CLIPVisionConfig() (ViT-B/32).
func DefaultCLIPVision() CLIPVision {
	return CLIPVision{
		ModelType:         ModelTypeCLIPVision,
		HiddenSize:        defaultCLIPHidden,
		IntermediateSize:  defaultCLIPIntermediate,
		NumHiddenLayers:   defaultCLIPLayers,
		NumAttentionHeads: defaultCLIPHeads,
		NumChannels:       defaultChannels,
		ImageSize:         defaultCLIPImage,
		PatchSize:         defaultCLIPPatch,
		HiddenAct:         ActQuickGELU,
		LayerNormEps:      defaultLayerNormEps,
		ProjectionDim:     defaultCLIPProjection,
	}
}

// DefaultLlava is HF's LlavaConfig(): LlamaConfig() text model and a CLIP
// ViT-L/14-336 vision tower.
func DefaultLlava() Llava {
	return Llava{
		ModelType:                   ModelTypeLlava,
		TextConfig:                  DefaultLlama(),
		VisionConfig:                CLIPViTL14_336(),
		ImageTokenIndex:             defaultLlavaImageToken,
		ProjectorHiddenAct:          ActGELU,
		VisionFeatureLayer:          IntList{defaultLlavaFeatureLayer},
		VisionFeatureSelectStrategy: StrategyDefault,
		ImageSeqLength:              defaultLlavaImageSeqLength,
		TieWordEmbeddings:           true,
	}
}

// DefaultMllamaVision is HF's MllamaVisionConfig() (Llama-3.2-11B-Vision).
func DefaultMllamaVision() MllamaVision {
	return MllamaVision{
		ModelType:                 ModelTypeMllamaVision,
		HiddenSize:                defaultMllamaVisionHidden,
		IntermediateSize:          defaultMllamaVisionIntermediate,
		NumHiddenLayers:           defaultMllamaVisionLayers,
		NumGlobalLayers:           defaultMllamaVisionGlobalLayers,
		AttentionHeads:            defaultMllamaVisionHeads,
		NumChannels:               defaultChannels,
		ImageSize:                 defaultMllamaVisionImage,
		PatchSize:                 defaultMllamaVisionPatch,
		HiddenAct:                 ActGELU,
		NormEps:                   defaultLayerNormEps,
		MaxNumTiles:               defaultMllamaMaxTiles,
		IntermediateLayersIndices: []int{3, 7, 15, 23, 30},
		SupportedAspectRatios:     [][]int{{1, 1}, {1, 2}, {1, 3}, {1, 4}, {2, 1}, {2, 2}, {3, 1}, {4, 1}},
		VisionOutputDim:           defaultMllamaVisionOutputDim,
	}
}

// DefaultMllamaText is HF's MllamaTextConfig() (Llama-3.2-11B-Vision).
// Note rope_scaling defaults to null in HF even though the real checkpoint
// sets llama3 scaling; see Llama32Vision11BText for the checkpoint's values.
func DefaultMllamaText() MllamaText {
	return MllamaText{
		ModelType:             ModelTypeMllamaText,
		VocabSize:             defaultMllamaTextVocab,
		HiddenSize:            defaultMllamaTextHidden,
		IntermediateSize:      defaultMllamaTextIntermediate,
		NumHiddenLayers:       defaultMllamaTextLayers,
		NumAttentionHeads:     defaultMllamaTextHeads,
		NumKeyValueHeads:      defaultMllamaTextKVHeads,
		HiddenAct:             ActSiLU,
		MaxPositionEmbeddings: defaultMllamaMaxPos,
		RMSNormEps:            defaultMllamaRMSEps,
		RopeTheta:             defaultMllamaRopeTheta,
		CrossAttentionLayers:  []int{3, 8, 13, 18, 23, 28, 33, 38},
		BOSTokenID:            intPtr(defaultMllamaBOS),
		EOSTokenID:            TokenIDs{defaultMllamaEOS},
		PadTokenID:            intPtr(defaultMllamaPad),
	}
}

// DefaultMllama is HF's MllamaConfig().
func DefaultMllama() Mllama {
	return Mllama{
		ModelType:       ModelTypeMllama,
		TextConfig:      DefaultMllamaText(),
		VisionConfig:    DefaultMllamaVision(),
		ImageTokenIndex: defaultMllamaImageToken,
	}
}

// DefaultGeneration is HF's GenerationConfig() defaults for the fields kept.
func DefaultGeneration() GenerationConfig {
	return GenerationConfig{
		MaxLength:         defaultGenMaxLength,
		Temperature:       defaultGenTemperature,
		TopK:              defaultGenTopK,
		TopP:              defaultGenTopP,
		RepetitionPenalty: defaultGenRepetition,
	}
}
