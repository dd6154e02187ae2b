// Package crossattn is the cross-modality fusion style of Fovea: the gated
// cross-attention decoder layer of Mllama (Llama-3.2-Vision), matching HF
// transformers 4.45.2 MllamaCrossAttentionDecoderLayer.
//
// # The layer
//
// A Layer implements decoder.Layer and sits in the decoder's layer list at
// the indices of cross_attention_layers (NewLayers builds that list for
// decoder.NewWithLayers; nil entries become ordinary self-attention
// Blocks). It has no self-attention. Weights, under
// "language_model.model.layers.N.": input_layernorm, cross_attn.{q,k,v,o}_proj,
// cross_attn.{q,k}_norm (RMSNorm over Dh, per head), cross_attn_attn_gate [1],
// post_attention_layernorm, mlp.{gate,up,down}_proj, cross_attn_mlp_gate [1].
//
//	h   = x + tanh(attn_gate) · xattn(input_layernorm(x))
//	out = h + tanh(mlp_gate)  · (rowMask ⊙ mlp(post_attention_layernorm(h)))
//
// xattn: q = q_norm(q_proj(x)) [B, H, T, Dh]; k = k_norm(k_proj(img)),
// v = v_proj(img) [B, KVH, Nv, Dh]; softmax(q·kᵀ/√Dh + mask)·v with
// grouped-query heads, no RoPE, no causal mask; o_proj → [B, T, D].
//
// # Where the image keys and values live
//
// The decoder knows nothing of images. The caller encodes the images
// (vision.MllamaVision, projector.Mllama → cross_attention_states
// [B, Nv, D], Nv = N·tiles·P, image-major then tile then patch) and calls
// SetImages(b, model, state, states, mask, opts). Each cross-attention
// layer then computes its keys and values ONCE and keeps them in its own
// run state (a *State inside decoder.State.Layers), next to the masks; no
// weight struct holds run state. Every later Forward, prefill or decode
// step, reuses them. With no images in its State a Layer returns its input
// unchanged, as HF skips cross-attention layers when there are neither
// cross_attention_states nor cached cross K/V: the logits then equal the
// text-only decoder's bit for bit. ClearImages empties the states.
// SetImages replaces any earlier image set (HF's appending of a second
// image set mid-conversation is not supported).
//
// # Training
//
// For whole-sequence training on the graph backend (package train),
// SetTrainImages puts a TrainState into each cross-attention layer's slot
// of a decoder.NewTrainState: the image keys and values are graph nodes
// computed from the projector output (so gradients reach the projector),
// and the masks are graph inputs a trainer rebinds per batch (BatchMasks
// builds them for a batch: image slots a sequence does not use are
// masked, and a sequence without images passes the layers unchanged).
// Layer.Forward runs the same code in both cases (layer.forward).
//
// # Masks
//
// TokenMask is HF's cross_attention_mask [B, T, N, tiles] (0/1).
// BuildTokenMask makes it from the image tokens as MllamaProcessor does
// (get_cross_attention_token_mask + convert_sparse_cross_attention_mask_to_dense):
// an image is visible from its own token up to the next image token, the
// last image to the end of the sequence, and a run of consecutive image
// tokens all see the text after the run; only each image's real tiles are
// visible (padded tiles are masked). Each sequence must hold exactly one
// image token per image: more tokens than images, or images without a
// token, is an error. TokenMask.Dense is HF's _prepare_cross_attention_mask:
// the additive mask [B, 1, T, Nv] (0 visible, finfo(float32).min not) and
// the row mask [B, 1, T, 1] (1 when the token sees any tile). Each
// sequence of a batch has its own rows, so several prompts run at once.
//
// Decode steps reuse the mask's last row for every position past the
// prompt, as HF generate extends cross_attention_mask by repeating its
// last row.
//
// # HF mode (default) and Strict mode
//
// HF multiplies the additive mask by the row mask, so a token that sees
// no image (one before the first image token) gets an all-zero row: it
// attends uniformly to every image token and that output IS added
// (times tanh(attn_gate)); only its MLP branch is masked
// (transformers issue #39379). The default reproduces this for parity.
// Options.Strict also multiplies the cross-attention output by the row
// mask, so such tokens receive no image information at all and the layer
// leaves their rows unchanged. The two modes differ exactly on those rows.
//
// # Errors
//
// BuildTokenMask, TokenMaskFromInt64 and SetImages return errors naming
// the mismatch (token/image counts, tile counts, shapes, batch). Forward
// panics only on programmer errors inside the backend (shapes named).
package crossattn
