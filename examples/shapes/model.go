package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fovea-ml/fovea/tokenizer"
)

// The unified (LLaVA) model's sizes: DESIGN.md measured them. The tower
// reads the 64 px image resized to 48 px with patch 16, so its 3 × 3
// patch grid is column-aligned (each patch column is one image column)
// and 9 image tokens reach the decoder.
const (
	towerImage  = 48
	towerPatch  = 16
	towerWidth  = 64
	towerLayers = 2
	towerHeads  = 4
	towerMLP    = 128

	textWidth  = 64
	textLayers = 2
	textHeads  = 4
	textKV     = 2
	textMLP    = 176

	initRange = 0.02
)

// imageTokens is the patch tokens one image gives the decoder.
const imageTokens = (towerImage / towerPatch) * (towerImage / towerPatch)

// writeJSON writes v indented to dir/name.
func writeJSON(dir, name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name), append(data, '\n'), 0o644)
}

// writeLlavaConfig writes the LLaVA folder's config.json,
// preprocessor_config.json and generation_config.json (no weights:
// fovea.NewFromConfig initialises them).
func writeLlavaConfig(dir string, tok *tokenizer.Tokenizer) error {
	img, ok := tok.TokenID(tokImage)
	if !ok {
		return fmt.Errorf("the tokenizer has no %s", tokImage)
	}
	bos, _ := tok.TokenID(tokBOS)
	eos, _ := tok.TokenID(tokEOS)
	pad, _ := tok.TokenID(tokPad)
	cfg := map[string]any{
		"architectures":                  []string{"LlavaForConditionalGeneration"},
		"model_type":                     "llava",
		"ignore_index":                   -100,
		"image_token_index":              img,
		"image_seq_length":               imageTokens,
		"projector_hidden_act":           "gelu",
		"vision_feature_layer":           -1,
		"vision_feature_select_strategy": "default",
		"initializer_range":              initRange,
		"torch_dtype":                    "float32",
		"text_config": map[string]any{
			"model_type": "llama", "hidden_size": textWidth, "intermediate_size": textMLP,
			"num_hidden_layers": textLayers, "num_attention_heads": textHeads, "num_key_value_heads": textKV,
			"head_dim": textWidth / textHeads, "hidden_act": "silu", "max_position_embeddings": contextLength,
			"rms_norm_eps": 1e-5, "rope_theta": 10000.0, "vocab_size": tok.VocabSize(),
			"bos_token_id": bos, "eos_token_id": eos, "pad_token_id": pad, "tie_word_embeddings": false,
			"initializer_range": initRange, "attention_bias": false, "mlp_bias": false,
		},
		"vision_config": map[string]any{
			"model_type": "clip_vision_model", "hidden_size": towerWidth, "intermediate_size": towerMLP,
			"num_hidden_layers": towerLayers, "num_attention_heads": towerHeads, "num_channels": 3,
			"image_size": towerImage, "patch_size": towerPatch, "hidden_act": "gelu",
			"layer_norm_eps": 1e-5, "projection_dim": towerWidth, "initializer_range": initRange,
		},
	}
	if err := writeJSON(dir, "config.json", cfg); err != nil {
		return err
	}
	pp := map[string]any{
		"image_processor_type": "CLIPImageProcessor",
		"do_resize":            true, "size": map[string]int{"shortest_edge": towerImage}, "resample": 3,
		"do_center_crop": true, "crop_size": map[string]int{"height": towerImage, "width": towerImage},
		"do_rescale": true, "rescale_factor": 1.0 / 255, "do_normalize": true,
		"image_mean": []float64{0.5, 0.5, 0.5}, "image_std": []float64{0.5, 0.5, 0.5}, "do_convert_rgb": true,
	}
	if err := writeJSON(dir, "preprocessor_config.json", pp); err != nil {
		return err
	}
	return writeJSON(dir, "generation_config.json", map[string]any{
		"bos_token_id": bos, "eos_token_id": eos, "pad_token_id": pad, "do_sample": false})
}

// The cross (Mllama) model: the same decoder with gated cross-attention
// layers inserted after each self-attention layer, and an Mllama vision
// encoder of one 48 px tile, patch 16 (9 patches + CLS).
const (
	mllamaGlobalLayers = 1
	// mllamaIntermediate is the local layer whose hidden state joins the
	// global output (vision_output_dim = width · 2).
	mllamaIntermediate = 1
)

// writeMllamaConfig writes the Mllama folder's config.json,
// preprocessor_config.json and generation_config.json.
func writeMllamaConfig(dir string, tok *tokenizer.Tokenizer, o crossOptions) error {
	img, ok := tok.TokenID(tokMllamaImage)
	if !ok {
		return fmt.Errorf("the tokenizer has no %s", tokMllamaImage)
	}
	bos, _ := tok.TokenID(tokBOS)
	eot, _ := tok.TokenID(tokEOT)
	eos, _ := tok.TokenID(tokEOS)
	pad, _ := tok.TokenID(tokPad)
	layers, cross, err := parseCrossLayout(o.layout)
	if err != nil {
		return err
	}
	width, mlp := textWidth, textMLP
	if o.width > 0 {
		width, mlp = o.width, o.width*textMLP/textWidth
	}
	cfg := map[string]any{
		"architectures":     []string{"MllamaForConditionalGeneration"},
		"model_type":        "mllama",
		"image_token_index": img,
		"initializer_range": initRange,
		"torch_dtype":       "float32",
		"text_config": map[string]any{
			"model_type": "mllama_text_model", "hidden_size": width, "intermediate_size": mlp,
			"num_hidden_layers": layers, "cross_attention_layers": cross,
			"num_attention_heads": textHeads, "num_key_value_heads": textKV, "hidden_act": "silu",
			"max_position_embeddings": contextLength, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
			"vocab_size": tok.VocabSize(), "bos_token_id": bos, "eos_token_id": []int{eot, eos}, "pad_token_id": pad,
			"tie_word_embeddings": false, "initializer_range": initRange,
		},
		"vision_config": map[string]any{
			"model_type": "mllama_vision_model", "hidden_size": towerWidth, "intermediate_size": towerMLP,
			"num_hidden_layers": towerLayers, "num_global_layers": mllamaGlobalLayers, "attention_heads": towerHeads,
			"num_channels": 3, "image_size": towerImage, "patch_size": towerPatch, "hidden_act": "gelu",
			"norm_eps": 1e-5, "max_num_tiles": 1, "supported_aspect_ratios": [][]int{{1, 1}},
			"intermediate_layers_indices": []int{mllamaIntermediate}, "vision_output_dim": towerWidth * 2,
			"initializer_range": initRange,
		},
	}
	if err := writeJSON(dir, "config.json", cfg); err != nil {
		return err
	}
	pp := map[string]any{
		"image_processor_type": "MllamaImageProcessor",
		"do_resize":            true, "size": map[string]int{"height": towerImage, "width": towerImage}, "resample": 3,
		"max_image_tiles": 1, "do_pad": true, "do_rescale": true, "rescale_factor": 1.0 / 255, "do_normalize": true,
		"image_mean": []float64{0.5, 0.5, 0.5}, "image_std": []float64{0.5, 0.5, 0.5}, "do_convert_rgb": true,
	}
	if err := writeJSON(dir, "preprocessor_config.json", pp); err != nil {
		return err
	}
	return writeJSON(dir, "generation_config.json", map[string]any{
		"bos_token_id": bos, "eos_token_id": []int{eot, eos}, "pad_token_id": pad, "do_sample": false})
}
