// Package config holds typed versions of the HuggingFace config.json files
// Fovea reads: Llama (text decoder, also LLaVA's text_config), CLIPVision,
// Llava, MllamaText, MllamaVision, Mllama, plus GenerationConfig from
// generation_config.json.
//
// # Decoding follows HF
//
// Every type's UnmarshalJSON first fills the defaults of the matching
// transformers v4.45.2 configuration class and then overlays the JSON, so
// absent keys (and, for keys HF treats as optional, explicit nulls) behave
// as in Python:
//
//   - Llama: num_key_value_heads absent/null = num_attention_heads; head_dim
//     absent/null = hidden_size/num_attention_heads (HeadDimension stays 0,
//     HeadDim() derives it); rope_scaling null = plain RoPE.
//   - Llava: text_config absent = LlamaConfig(); vision_config absent = CLIP
//     ViT-L/14-336; a present sub-dict starts from LlamaConfig/CLIPVisionConfig
//     defaults (not LLaVA's fallback). vision_feature_layer -2, strategy
//     "default", image_seq_length 576, projector_hidden_act "gelu".
//   - Mllama: MllamaTextConfig/MllamaVisionConfig defaults (Llama 3.2 11B
//     Vision); the vision head count is stored under "attention_heads".
//   - eos_token_id and vision_feature_layer may be one int or a list: both
//     decode to a slice (TokenIDs, IntList).
//
// Unknown keys are ignored (HF configs carry dozens). A key of the wrong JSON
// type is an error naming the key by its dotted path from the file root
// ("text_config.hidden_size"). rope_scaling accepts HF's legacy "type" key.
//
// # Validation
//
// Parse/Load validate; configs built in code should call Validate. Validate
// checks positive sizes under generous caps (MaxLayers, MaxWidth, ...; so a
// hostile num_hidden_layers of 1e12 fails here instead of allocating),
// divisibility (hidden by heads, heads by KV heads, image by patch), known
// activations (silu, gelu, gelu_new, gelu_pytorch_tanh, quick_gelu, relu,
// tanh), rope scaling (plain or llama3 only), token ids inside the
// vocabulary, LLaVA feature layers inside the tower's hidden-state list,
// mllama cross_attention_layers unique and inside [0,num_hidden_layers),
// mllama intermediate_layers_indices inside [0,num_hidden_layers] and
// vision_output_dim = hidden_size*(1+len(intermediate_layers_indices)).
//
// # Errors
//
// All errors wrap ErrInvalid (except I/O errors from Load). Errors about one
// key are *KeyError whose Key is the dotted path from the file root.
// Nothing in this package panics on bad input; config files over
// MaxConfigBytes are refused before decoding.
//
// # Derived quantities
//
// Methods give the numbers other packages need instead of re-deriving them:
// Llama.HeadDim; CLIPVision.GridSize/NumPatches/NumPositions (patches+CLS);
// Llava.FeatureLayerIndices (negative layers resolved against the
// num_hidden_layers+1 hidden states, entry 0 = embeddings), ImageFeatureTokens,
// ProjectorInputDim; MllamaVision.NumPatches/TileTokens/PaddedTileTokens
// (tile tokens padded to a multiple of 8)/MaxAspectRatioID (ids are 1-based);
// MllamaText.NumEmbeddings (vocab_size+8 rows), IsCrossAttentionLayer, AsLlama.
// MinWeights (on every model config and Model) is a lower bound on the
// weight values a checkpoint for the config holds (matrices and embedding
// tables; within 1% of the published parameter counts): Load compares it
// with the checkpoint header before allocating anything.
//
// Presets (LlamaTiny, SmolLM2_135M, CLIPTiny, CLIPViTB16, CLIPViTL14_336,
// LlavaTiny, MllamaTiny, Llama32Vision11B...) return fresh values with the
// published numbers written out literally.
//
// The package has no tensors and no package-level mutable state.
package config
