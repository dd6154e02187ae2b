package config

// Named presets. Values are those of the published HF config.json files
// (or of the golden test cases in testdata/), listed literally so a
// reader can compare them with the source.

// LlamaTiny is the golden llama_tiny case: vocab 384, width 64, 4 layers,
// 4 heads / 2 KV heads (head_dim 16), FFN 176, rope_theta 1e4, no rope
// scaling, rms eps 1e-5, context 256, untied, bos 1, eos 2.
func LlamaTiny() Llama {
	return Llama{
		ModelType:             ModelTypeLlama,
		VocabSize:             384,
		HiddenSize:            64,
		IntermediateSize:      176,
		NumHiddenLayers:       4,
		NumAttentionHeads:     4,
		NumKeyValueHeads:      2,
		HeadDimension:         16,
		HiddenAct:             ActSiLU,
		MaxPositionEmbeddings: 256,
		RMSNormEps:            1e-5,
		RopeTheta:             10000,
		BOSTokenID:            intPtr(1),
		EOSTokenID:            TokenIDs{2},
	}
}

// SmolLM2_135M is HuggingFaceTB/SmolLM2-135M (base): 30 layers, width 576,
// 9 heads / 3 KV heads (head_dim 64), FFN 1536, vocab 49152, tied
// embeddings, rope_theta 1e5, rms eps 1e-5, context 8192, bos = eos = 0
// (<|endoftext|>).
func SmolLM2_135M() Llama {
	return Llama{
		ModelType:             ModelTypeLlama,
		VocabSize:             49152,
		HiddenSize:            576,
		IntermediateSize:      1536,
		NumHiddenLayers:       30,
		NumAttentionHeads:     9,
		NumKeyValueHeads:      3,
		HeadDimension:         64,
		HiddenAct:             ActSiLU,
		MaxPositionEmbeddings: 8192,
		RMSNormEps:            1e-5,
		RopeTheta:             100000,
		TieWordEmbeddings:     true,
		BOSTokenID:            intPtr(0),
		EOSTokenID:            TokenIDs{0},
	}
}

// CLIPTiny is the golden clip_tiny case (also the vision tower of
// llava_tiny): 32px images, patch 8, width 64, 4 heads, 3 layers, MLP 128.
func CLIPTiny() CLIPVision {
	return CLIPVision{
		ModelType:         ModelTypeCLIPVision,
		HiddenSize:        64,
		IntermediateSize:  128,
		NumHiddenLayers:   3,
		NumAttentionHeads: 4,
		NumChannels:       3,
		ImageSize:         32,
		PatchSize:         8,
		HiddenAct:         ActQuickGELU,
		LayerNormEps:      1e-5,
		ProjectionDim:     64,
	}
}

// CLIPViTB16 is openai/clip-vit-base-patch16's vision tower: 12 layers,
// width 768, 12 heads, MLP 3072, 224px images, patch 16, quick_gelu.
func CLIPViTB16() CLIPVision {
	return CLIPVision{
		ModelType:         ModelTypeCLIPVision,
		HiddenSize:        768,
		IntermediateSize:  3072,
		NumHiddenLayers:   12,
		NumAttentionHeads: 12,
		NumChannels:       3,
		ImageSize:         224,
		PatchSize:         16,
		HiddenAct:         ActQuickGELU,
		LayerNormEps:      1e-5,
		ProjectionDim:     512,
	}
}

// CLIPViTL14_336 is openai/clip-vit-large-patch14-336, LLaVA-1.5's tower
// (and HF LlavaConfig's fallback): 24 layers, width 1024, 16 heads, MLP
// 4096, 336px images, patch 14 (576 patches), quick_gelu, projection 768.
func CLIPViTL14_336() CLIPVision {
	return CLIPVision{
		ModelType:         ModelTypeCLIPVision,
		HiddenSize:        llavaCLIPHidden,
		IntermediateSize:  llavaCLIPIntermediate,
		NumHiddenLayers:   llavaCLIPLayers,
		NumAttentionHeads: llavaCLIPHeads,
		NumChannels:       defaultChannels,
		ImageSize:         llavaCLIPImage,
		PatchSize:         llavaCLIPPatch,
		HiddenAct:         ActQuickGELU,
		LayerNormEps:      defaultLayerNormEps,
		ProjectionDim:     llavaCLIPProjection,
	}
}

// LlavaTiny is the golden llava_tiny case: LlamaTiny text model, CLIPTiny
// tower, image token 383, exact-erf GELU projector, feature layer -2,
// "default" strategy (CLS dropped), image_seq_length 16.
func LlavaTiny() Llava {
	return Llava{
		ModelType:                   ModelTypeLlava,
		TextConfig:                  LlamaTiny(),
		VisionConfig:                CLIPTiny(),
		ImageTokenIndex:             383,
		ProjectorHiddenAct:          ActGELU,
		VisionFeatureLayer:          IntList{-2},
		VisionFeatureSelectStrategy: StrategyDefault,
		ImageSeqLength:              16,
		TieWordEmbeddings:           true,
	}
}

// Llama32Vision11BText is the text_config of meta-llama/Llama-3.2-11B-Vision:
// 40 layers (cross-attention at 3, 8, ..., 38), width 4096, 32 heads / 8 KV
// heads, FFN 14336, vocab 128256 (embedding table 128264 rows), rope_theta
// 5e5 with llama3 scaling (factor 8, low 1, high 4, original context 8192),
// context 131072, bos 128000, eos 128001, pad 128004.
func Llama32Vision11BText() MllamaText {
	t := DefaultMllamaText()
	t.RopeScaling = &RopeScaling{
		RopeType:                      RopeLlama3,
		Factor:                        8,
		LowFreqFactor:                 1,
		HighFreqFactor:                4,
		OriginalMaxPositionEmbeddings: 8192,
	}
	return t
}

// Llama32Vision11BVision is the vision_config of Llama-3.2-11B-Vision (HF's
// MllamaVisionConfig defaults): 448px tiles, patch 14 (1024 patches + CLS
// per tile), width 1280, 16 heads, 32 local + 8 global layers, MLP 5120,
// up to 4 tiles, intermediate layers [3 7 15 23 30], output 7680 = 1280*6.
func Llama32Vision11BVision() MllamaVision { return DefaultMllamaVision() }

// Llama32Vision11B is meta-llama/Llama-3.2-11B-Vision's config (image
// token 128256).
func Llama32Vision11B() Mllama {
	return Mllama{
		ModelType:       ModelTypeMllama,
		TextConfig:      Llama32Vision11BText(),
		VisionConfig:    Llama32Vision11BVision(),
		ImageTokenIndex: defaultMllamaImageToken,
	}
}

// MllamaTiny is the golden mllama_tiny case.
func MllamaTiny() Mllama {
	return Mllama{
		ModelType: ModelTypeMllama,
		TextConfig: MllamaText{
			ModelType:             ModelTypeMllamaText,
			VocabSize:             384,
			HiddenSize:            64,
			IntermediateSize:      176,
			NumHiddenLayers:       5,
			NumAttentionHeads:     4,
			NumKeyValueHeads:      2,
			HiddenAct:             ActSiLU,
			MaxPositionEmbeddings: 131072,
			RMSNormEps:            1e-5,
			RopeTheta:             500000,
			RopeScaling: &RopeScaling{
				RopeType: RopeLlama3, Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4,
				OriginalMaxPositionEmbeddings: 8192,
			},
			CrossAttentionLayers: []int{1, 3},
			BOSTokenID:           intPtr(1),
			EOSTokenID:           TokenIDs{2},
			PadTokenID:           intPtr(0),
		},
		VisionConfig: MllamaVision{
			ModelType:                 ModelTypeMllamaVision,
			HiddenSize:                64,
			IntermediateSize:          128,
			NumHiddenLayers:           3,
			NumGlobalLayers:           2,
			AttentionHeads:            4,
			NumChannels:               3,
			ImageSize:                 32,
			PatchSize:                 8,
			HiddenAct:                 ActGELU,
			NormEps:                   1e-5,
			MaxNumTiles:               2,
			IntermediateLayersIndices: []int{0, 2},
			SupportedAspectRatios:     [][]int{{1, 1}, {1, 2}, {2, 1}},
			VisionOutputDim:           192,
		},
		ImageTokenIndex: 383,
	}
}
