// Package fovea is a pure-Go vision-language-model library: it loads
// HuggingFace model folders (config.json, safetensors weights, image
// processor and tokenizer files) and runs them on the CPU, matching
// transformers to float32 rounding.
//
// # Use
//
//	m, err := fovea.Load(ctx, "path/to/llava")
//	img, err := fovea.LoadImage("cat.png")
//	stream := m.Stream(ctx, fovea.Request{
//		Messages: []fovea.Message{{Role: fovea.RoleUser, Text: "What is this?", Images: []image.Image{img}}},
//	})
//	for tok := range stream.Tokens() { ... tok.Text ... }
//	res, err := stream.Result() // finish reason, token counts, prefill/decode timings
//
// Messages are rendered with the folder's chat template (Jinja, from
// chat_template.jinja, chat_template.json or tokenizer_config.json), else
// HF's LLaVA-1.5 or Llama-3.2-Vision template. A Session keeps a
// conversation's encoded images and KV cache, so a follow-up prefills only
// its new tokens. Options left zero come from generation_config.json as in
// HF's generate. Token text is decoded incrementally: bytes of an
// unfinished UTF-8 character are held back until they complete.
//
// Lower-level calls: Logits (prompt ids + pixel input → [1, T, V], every
// architecture), PreprocessImages (images → pixel input per
// preprocessor_config.json), EncodeImages (pixel input → the image
// features the language model sees; pass them back as Pixels.Features),
// VisionOutputs (the vision tower's hidden states and pooled output).
// A Model is immutable after Load; every call builds its own run state
// (KV caches), so one Model serves concurrent calls.
//
// # Public types
//
// The packages exchange a few types whose implementation lives under
// internal/; each public package names them with aliases (fovea.Tensor,
// decoder.Tensor and vision.Tensor are one type; likewise Backend, Value
// and the configs), and this package adds the constructors an outside
// program needs to build and run the layers of vision/, projector/,
// decoder/ and crossattn/ itself: NewTensor, TensorFromData, TensorOf,
// EagerBackend, OpenSafetensors (a WeightSource) and WriteSafetensors.
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
// in the run state. MllamaInputs.Strict (or Request.StrictImageMask) selects
// the strict masking mode.
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
// # Memory budget
//
// Nothing is allocated from a size that was not checked first. A model
// folder, an image or a request is untrusted input, and a size read from
// it is a promise to be checked against something real before memory is
// spent on it:
//
//   - Model tensors: the config's sizes (after HF's defaults fill absent
//     keys) are checked against the checkpoint header before any tensor is
//     allocated: a config needing more than about twice the weight values
//     the checkpoint declares is refused (Config.MinWeights against the
//     header; opening the safetensors files has checked every tensor's bytes
//     against the data present). Then each tensor's shape is checked against the
//     header as it is bound, so allocation follows the data on disk.
//   - Images: the decoded size is checked from the header (MaxImagePixels,
//     MaxImageSide), every resize target and Mllama canvas is checked
//     against the same limits before it is allocated, and
//     preprocessor_config.json sizes are capped (16384 pixels a side) and
//     must match the vision tower's image_size.
//   - Files: every config, JSON and tokenizer file is read through one
//     capped reader (internal/fsx: config.json and generation_config.json
//     16 MiB, preprocessor_config.json 1 MiB, tokenizer.json 256 MiB,
//     tokenizer_config.json 64 MiB, a shard index 64 MiB), decided from the
//     file's size before reading; what is not a regular file (a FIFO, a
//     device, /dev/zero behind a symlink) is refused without blocking.
//   - Tokenizers: a normalizer chain that can grow a text more than
//     tokenizer.MaxNormalizerGrowth times is refused at load; merges from
//     GGUF scores are built in time linear in the vocabulary's bytes.
//   - Generation: KV caches grow as generation proceeds (decoder).
//
// A refused input gets an error naming the file, the key and the limit.
//
// # Errors
//
// Bad input is an error, never a panic: unsupported model_type, missing
// weights, a tokenizer with more ids than the embedding table has rows, a
// corrupt or oversized image (decompression bombs are refused from the
// header), image and placeholder counts that disagree, a prompt longer than
// max_position_embeddings, pixel values of the wrong shape or length,
// non-finite pixel values or image features, malformed Mllama side inputs
// (aspect ratio masks, cross_attention_mask with values outside 0/1), nil
// and typed-nil images, option values that would overflow float32,
// non-finite logits during generation. Weights holding NaN or ±Inf are
// refused at load (AllowNonFinite accepts them); a tokenizer whose added
// tokens contradict its vocabulary, or that lacks byte tokens it needs, is
// refused. Every checkpoint tensor that no weight claims is reported as
// unexpected. Long prefill and vision passes check the context between
// layers.
package fovea
