// Package backend is the seam between layer code and arithmetic.
//
// Every layer in Fovea (vision, projector, decoder, crossattn) is written
// once against the Backend interface. Two implementations exist:
//
//   - Eager (this package): computes immediately on float32 tensors. It is
//     the inference path: variable sequence lengths, an append-only KV
//     cache, no graph rebuilding. Values are *tensor.Tensor.
//   - graph.Backend (internal/backend/graph): records the same operations
//     as a gorgonia expression graph for training with autodiff. Custom ops
//     whose forward passes call the same row kernels keep both paths
//     numerically identical.
//
// Layout. Shapes are outermost first (legend in internal/tensor):
// activations are [B, T, D]; attention works on [B, H, T, Dh] queries and
// [B, KVH, T, Dh] keys and values (grouped-query attention: query head h
// reads kv head h / (H/KVH)).
//
// Run state. A KVCache belongs to one layer and one batch of sequences; it
// lives in the caller's run state, never in weight structs, so one set of
// weights serves many concurrent generations. Attention appends to it.
//
// Invariants. Operations never modify their inputs (Eager's Reshape
// returns a view, so callers must not mutate a tensor they passed in).
// Softmax of a fully masked row is zero, not NaN. RoPE uses HF's
// rotate_half convention with float32 angles. Programmer errors (shape
// mismatches) panic with the shapes in the message; data errors are
// caught by the callers before they reach a kernel.
//
// Threading. Eager splits large row-wise ops and attention heads across
// runtime.GOMAXPROCS goroutines; small ops stay on the calling goroutine.
package backend
