// Package fovea is a pure-Go vision-language-model library: it loads
// HuggingFace model folders (config.json, safetensors weights, image
// processor and tokenizer files) and runs them on the CPU, matching
// transformers to float32 rounding.
//
// # Use
//
//	m, err := fovea.Load(ctx, "path/to/llava")
//	img, err := fovea.LoadImage("cat.png")
//	for tok, err := range m.Generate(ctx, fovea.Request{
//		Prompt: "USER: <image>\nWhat is this? ASSISTANT:",
//		Images: []image.Image{img},
//	}) { ... tok.Text ... }
//
// Lower-level calls: Logits (prompt ids + pixel values → [1, T, V]),
// PreprocessImages (images → pixel values per preprocessor_config.json),
// EncodeImages (pixel values → the image features the language model
// sees), VisionOutputs (the vision tower's hidden states and pooled output).
// A Model is immutable after Load; every call builds its own run state
// (KV caches), so one Model serves concurrent calls.
//
// # Two fusion styles
//
// Unified embedding (LLaVA): a vision tower (CLIP) encodes each image into
// patch features, a projector maps them to the text width, and they replace
// image-placeholder tokens in the prompt's embedding sequence; the language
// model (Llama) then reads one sequence of text and image positions.
// Packages vision, projector and decoder.
//
// Cross-attention (Mllama / Llama 3.2 Vision): image features are not in
// the sequence; dedicated decoder layers attend from text positions to the
// image features, gated per layer. The decoder's Layer interface lets those
// layers sit in the same stack as the self-attention blocks (package
// crossattn); image keys and values are computed once per request and kept
// in the run state. MllamaInputs.Strict selects the strict masking mode.
//
// # Weights in memory
//
// WithQuantization(Q8_0) stores the attention and MLP projections and the
// LM head as 8-bit blocks (internal/quant) for faster decoding; the default
// F32 is exact.
//
// # How a folder picks its architecture
//
// config.json's model_type selects a loader from the table in loaders()
// (llama, clip_vision_model, llava, mllama); each architecture is one file
// here (llama.go, clip.go, llava.go, mllama.go) implementing the private
// architecture interface (preprocess, prefill, text decoder, weight
// listing), so a new model_type is one file plus one line in that table. Weights load through
// internal/weights: every missing, unexpected or mis-shaped tensor is
// reported in one error. LLaVA accepts both HF layouts: the older
// language_model.model.*, language_model.lm_head.*, vision_tower.*,
// multi_modal_projector.* and the newer model.language_model.*,
// model.vision_tower.*, model.multi_modal_projector.*, lm_head.*, renamed
// once at load.
//
// # Errors
//
// Bad input is an error, never a panic: unsupported model_type, missing
// weights, a corrupt or oversized image (decompression bombs are refused
// from the header), image and placeholder counts that disagree, a prompt
// longer than max_position_embeddings, pixel values of the wrong shape.
package fovea
