// Package vision holds Fovea's image side: decoding and preprocessing
// images exactly as HF's image processors do (preprocess*.go, image.go,
// resample*.go), and the vision
// encoders that turn pixel values into patch features (clip*.go).
//
// # CLIP vision tower (clip.go)
//
// CLIPVision is HF's CLIPVisionTransformer, the body of CLIPVisionModel and
// of LLaVA's vision_tower. Pipeline, for pixels [N, C, S, S]:
//
//	embeddings: patch conv (stride = kernel = p, NO bias) → [N, P, D],
//	            class_embedding prepended → [N, P+1, D], + position_embedding [P+1, D]
//	pre_layrnorm (HF's spelling)                      → hidden[0]
//	L × pre-LN block: x += attn(ln1(x)); x += mlp(ln2(x)) → hidden[1..L]
//	last_hidden_state = hidden[L] (no final norm)
//	pooler_output     = post_layernorm(last_hidden_state[:, 0]) → [N, D]
//
// P = (S/p)² patches, D = hidden_size. Attention is full (no mask) with
// biased q/k/v/out projections and scale Dh^-½; the MLP is fc2(act(fc1(x)))
// with hidden_act from the config (quick_gelu for OpenAI CLIP). The
// convolution is computed as a Linear over unfolded patches: pixels are
// reshaped to [N, C, gy, p, gx, p], transposed to [N, gy, gx, C, p, p] and
// flattened to [N, P, C·p·p], whose inner order (c, ky, kx) is the memory
// order of the conv weight [D, C, p, p] — so the weight is used as
// [D, C·p·p] without copying. Patches are numbered row-major (gy, gx), as
// HF's flatten(2).
//
// Forward returns every hidden state (HF's output_hidden_states tuple:
// entry 0 is after pre_layrnorm, entry i after layer i-1) so that a caller
// (package projector) can pick LLaVA's vision_feature_layer; HiddenStates
// stops after a given layer, which is all LLaVA's layer -2 needs.
//
// Weights: fields are tagged with HF names relative to the tower's prefix,
// "vision_model." in CLIPVisionModel checkpoints (CLIPPrefix) and
// "vision_tower.vision_model." in LLaVA ones (LlavaCLIPPrefix). The
// constructor allocates every tensor with its expected shape; the binder
// (internal/weights) fills them and reports all missing or mis-shaped
// tensors at once. The position_ids buffer of older checkpoints is ignored
// (CLIPIgnore).
//
// All layer code is written against Backend, so the same tower
// runs eagerly for inference and on the graph backend for training.
//
// # Mllama vision tower (mllama_vision.go)
//
// MllamaVision is HF's MllamaVisionModel, for tiled input pixels
// [B, N, tiles, 3, S, S] with aspect-ratio ids [B, N] and masks
// [B, N, tiles]:
//
//	patch conv (no bias) + class embedding             → [B·N·tiles, P+1, D]
//	pre_tile_positional_embedding (by aspect-ratio id, ·tanh(gate))
//	gated_positional_embedding: (1−tanh(g))·pos + tanh(g)·tile_pos
//	layernorm_pre; pad tokens to a multiple of 8 (17 → 24)
//	local transformer (pre-LN), keeping intermediate_layers_indices
//	layernorm_post; post_tile_positional_embedding (gated)
//	global transformer: gated layers, x += tanh(gate_attn)·attn, += tanh(gate_ffn)·mlp
//	drop padding; output = cat(global, interleaved intermediates)
//
// The self-attention mask is HF's outer product of the "is padding" vector
// (padded patches and every patch of a padded tile): only (pad, pad) pairs
// are masked, real queries still see padded keys. The intermediates are
// interleaved as HF stacks them: channel D+L·c+j is intermediate j's
// channel c. Weights live under "vision_model." (MllamaVisionPrefix).
//
// # Image preprocessing (preprocess.go, image.go, resample*.go, mllama_preprocess.go)
//
// Purpose: turn decoded images into the pixel_values tensors that the CLIP /
// LLaVA and Mllama vision encoders consume, bit-for-bit (to float32
// rounding) as HuggingFace transformers v4.45.2 CLIPImageProcessor and
// MllamaImageProcessor do with Pillow 9.4.
//
// Pipeline (both processors): decode (image.go: PNG, JPEG, GIF, WebP; the
// header is checked against MaxImagePixels / MaxImageSide BEFORE pixels are
// decoded) -> ToRGB (Pillow convert("RGB"): alpha dropped, not composited) ->
// uint8 geometry (resize with Pillow's resampler, crop, pad) -> float:
// x = float32(float64(u8) * rescale_factor) (numpy upcasts to float64 then
// casts), then (x - float32(mean)) / float32(std) in float32.
//
// Resampling (resample.go) reproduces Pillow's libImaging/Resample.c:
// separable passes, horizontal first; the filter support is widened by the
// downscale factor (antialiasing); per-output windows and weights are
// computed in float64, normalised, converted to 22-bit fixed point; samples
// are accumulated in int32 and rounded/clipped to uint8 after EACH pass; a
// pass whose size is unchanged is skipped. resample_ref.go is its plain twin.
//
// CLIP (CLIPPreprocessorConfig.Preprocess): [optional LLaVA pad-to-square
// with int(mean*255) colour] -> resize shortest edge (long side
// int(short_target*long/short), truncated) or to {height,width} -> center
// crop (top=(H-h)//2, left=(W-w)//2 with Python floor division; zero padding
// when the crop is larger than the image) -> rescale -> normalise.
//
// Mllama (MllamaPreprocessorConfig.Preprocess): pick the tile canvas with
// get_optimal_tiled_canvas (aspect ratios in get_all_supported_aspect_ratios
// order, smallest upscale >= 1 else largest downscale, ties by smallest area,
// first wins), fit the image into it keeping aspect, resize, zero-pad
// bottom/right in uint8 (so padding becomes -mean/std after normalising),
// rescale, normalise, split into tiles row-major over (tile row, tile col).
//
// Tensor layout: CLIP pixel_values [3, H, W] per image, [N, 3, H, W] for a
// batch (channels first). Mllama PixelValues [B, N, T, 3, S, S] with T =
// max_image_tiles; tiles and images beyond the real ones are 0.0.
// AspectRatioIDs [B][N] (index+1 into the supported list, 0 for a missing
// image), AspectRatioMask [B][N][T] (1 for real tiles; tile 0 is 1 even for
// missing images, as HF does), NumTiles [B][n_b] (unpadded).
//
// Invariants and errors: configs are validated (Validate) before use; bad
// input (corrupt or oversized images, unsupported filters, empty batches,
// wrong mean/std lengths) returns an error naming what is wrong; nothing
// panics on user data. Lossy formats (JPEG, WebP) are decoded by Go, whose
// YCbCr->RGB path differs from libjpeg's, so only lossless inputs (PNG, GIF)
// match HF exactly.
//
// # Errors
//
// Config problems (NewCLIPVision: CLIPConfig.Validate plus a
// backend-supported activation) and checkpoint problems (LoadCLIPVision)
// are returned as errors. A pixel batch of the wrong shape is a programmer
// error inside Forward (it panics naming the shape); callers holding user
// data check it first with CheckPixelValues (shape, data length, finite
// values), which returns an error; ForwardContext/HiddenStatesContext
// stop between layers once their context is done.
//
// # Limits
//
// Nothing is allocated from an unchecked size: decoded images are bounded
// from the header (MaxImagePixels, MaxImageSide), every resize target and
// Mllama canvas against the same limits before allocation; nil, typed-nil
// and hand-built images whose buffers do not cover their Rect are refused.
// preprocessor_config.json is read capped (MaxPreprocessorConfigBytes), its
// sizes capped at 16384 pixels a side, and its rescale/normalize constants
// checked in float32 (the arithmetic they run in), so that a valid config
// never produces a NaN or Inf pixel. CheckTower matches its output size to
// the tower's image_size.
package vision
