// Package decoder is the Llama-family text decoder (HF LlamaForCausalLM,
// transformers 4.45.2) and its token generation.
//
// # The decoder knows nothing of images
//
// A Model is an embedding table, a list of Layers, a final RMSNorm and an
// LM head. It takes input embeddings [B, T, D], not token ids: callers that
// splice image features into the sequence (LLaVA) build the embeddings
// themselves (Model.Embed gives the token part), and callers that need
// other kinds of layers (Mllama's cross-attention) supply them:
//
//	type Layer interface {
//	    NewState(batch int) any
//	    Forward(b Backend, x Value, pos []int, state any) Value
//	}
//
// New builds a stack of Blocks (HF LlamaDecoderLayer); NewWithLayers takes
// a slice in which nil entries become Blocks and other entries are used as
// given, and WithEmbedRows sizes an embedding table larger than the
// vocabulary (Mllama: vocab_size + 8). The pieces of a Block, RMSNorm, MLP
// and Attention, are exported for reuse.
//
// # Layout
//
// Activations are [B, T, D]; attention works on [B, H, T, Dh] queries and
// [B, KVH, T, Dh] keys and values (grouped-query, H % KVH == 0). Logits are
// [B, T, V]. Weights keep HF's layout: a projection is [Out, In] and is
// applied as x·Wᵀ. Rotary embeddings use the rotate_half convention, plain
// or llama3-scaled per rope_scaling; the frequencies are computed once per
// model (NewRoPE) and shared by every Block.
//
// Fused paths. A Block asks its backend for the optional extensions of
// internal/backend (HeadSplitter, MergedAttention, GatedActivator,
// ResidualLinear) and falls back to the plain ops when they are absent
// (the graph backend): head split + RoPE in one pass, attention written
// with heads merged, SiLU(gate)·up in one pass, and both residual adds
// folded into the o_proj and down_proj products.
//
// # Run state
//
// Weights are immutable after Load; everything that changes while running
// lives in a State (Model.NewState(batch)): one state per layer (a Block's
// is its *KVCache, holding post-RoPE keys and values as HF's
// DynamicCache does) and the number of positions consumed. Forward appends
// T positions; the new tokens sit at positions Pos()..Pos()+T-1 and attend
// causally to everything cached. Several sequences at once are a batch
// B > 1 of equal length (no padding masks). One Model can serve many States
// concurrently on the Eager backend.
//
// Forward, Hidden and ForwardHidden return an error, leaving the State
// unchanged, when the input does not match the model or the State, or when
// the positions would pass max_position_embeddings. ForwardHidden also
// returns HF's hidden_states: [0] the input embeddings, [i] the output of
// layer i-1, and the last entry the output of the final norm.
//
// # Loading
//
// Load binds every tensor through internal/weights: the body under prefix
// ("model." for LlamaForCausalLM), layer i under prefix+"layers.i.", the LM
// head at the root ("lm_head.weight"). A layer implementing LayerBinder
// binds itself; any other layer must be a struct pointer the binder walks.
// With tie_word_embeddings the head is the embedding table itself (an
// lm_head tensor in the checkpoint is claimed and ignored, as HF re-ties
// after loading). Missing, unexpected and mis-shaped tensors come back in
// one *BindError naming each; bias tensors are checked against
// attention_bias and mlp_bias.
//
// # Generation
//
// Generate prefills a batch-1 State and streams token ids as an
// iter.Seq2[int, error]. The logits pass through HF's default processors
// in HF's order: repetition penalty (over GenerateOptions.PromptIDs and the
// generated ids), then, when Temperature > 0, temperature, top-k, top-p,
// min-p and a draw from a math/rand/v2 PCG source seeded by Seed.
// Temperature 0 is greedy (argmax, first index on ties). A stop token is
// yielded and then generation ends (HF keeps EOS in its output).
// Cancellation of ctx is checked before every step; the sequence never
// grows past max_position_embeddings. Only the last prompt position goes
// through the LM head, and decode steps (T = 1) skip the head transposes.
// Generate needs the eager backend: it reads the logits.
//
// Generator is the same loop one step at a time (NewGenerator prefills,
// Next generates): each Step carries the token's log-probability and
// optionally the top-k alternatives, and Finish says why it ended
// (FinishStopToken, FinishMaxTokens, FinishContextFull — also for a
// prompt that fills the context exactly and so generates nothing —,
// FinishCancelled, FinishError). Memory: nothing is allocated from
// MaxNewTokens; the KV caches grow (doubling) as tokens are generated.
// Logits that contain NaN or +Inf end generation with an error, as do
// processors that overflow them; Validate refuses a Temperature or
// RepetitionPenalty whose reciprocal overflows float32, in HF's words.
// State.Truncate rewinds the caches to a shared prefix (package fovea's
// Session uses it).
package decoder
