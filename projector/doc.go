// Package projector maps vision features to the language model's width.
// For unified-embedding VLMs (LLaVA) it also picks the vision features and
// splices them into the token embeddings; for cross-attention VLMs
// (Mllama) it is a single linear map whose output the cross-attention
// layers attend to.
//
// # Feature selection (SelectFeatures)
//
// The vision tower returns HF's hidden_states tuple (num_hidden_layers+1
// entries [N, P+1, Dv], entry 0 = embeddings after pre_layrnorm).
// vision_feature_layer indexes it Python-style: -2 with 3 layers (4
// entries) is entry 2, i.e. the output of the second-to-last layer, before
// any post_layernorm. vision_feature_select_strategy "default" drops the
// CLS token (position 0) → [N, P, Dv]; "full" keeps it → [N, P+1, Dv].
// Several layers are each cropped, then concatenated along channels →
// [N, P, Dv·L] (HF's torch.cat(hs_pool, dim=-1)).
//
// # Projector (Projector.Forward)
//
// MLP2 is HF's LlavaMultiModalProjector: linear_2(act(linear_1(x))) with
// biases and act = projector_hidden_act; Linear is a single linear_1
// (original LLaVA v1). VariantFromWeights picks the kind from the checkpoint
// (linear_2 present or not). Weights live under "multi_modal_projector."
// (Prefix); linear_1's input width is Dv times the number of feature layers.
//
// # Splice (ExpandImageTokens, Splice)
//
// HF 4.45 accepts two prompt conventions. Expanded: each image is P
// consecutive image tokens (what LlavaProcessor writes). Legacy: one image
// token per image; HF takes this path when the image-token count is below
// image_seq_length, and the library then expands each placeholder to P
// tokens (ExpandImageTokens), so positions run 0..T-1 over the expanded
// sequence. Splice then writes the projector rows, in order (image 0
// patches 0..P-1, image 1, ...), into the embedding rows [T, D] whose id is
// the image token: HF's masked_scatter. It is built from backend Slice and
// Concat, so it also runs on the graph backend.
//
// # Mllama (mllama.go)
//
// Mllama's multi_modal_projector is one biased Linear from the vision
// output width (vision_output_dim: the global encoder output concatenated
// with the interleaved intermediate layers) to the text width. Its input
// [B, N, tiles, P, Dv] is flattened image-major, then tile, then patch, to
// cross_attention_states [B, N·tiles·P, D]; nothing is spliced into the
// token sequence (see package crossattn).
//
// # Errors
//
// A placeholder count that fits neither convention for the given number of
// images, images without placeholders, or a feature-row count different
// from the number of image tokens is an error naming both counts. Config
// problems (unknown activation or strategy, a feature layer outside the
// hidden-states tuple) are reported by Config.Validate.
package projector
