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
// Kernels. Eager's arithmetic runs on internal/blas: sgemm and gemv for
// Linear, MatMul and attention, blas's vector kernels for softmax, the
// norms and the activations. Attention (attention.go) is fused: per work
// item (sequence, kv head, query tile) the query rows of the whole GQA
// group are stacked, keys and values are visited in tiles with an online
// softmax (running max and sum, flash-attention style), tiles in the
// causal future are skipped and the [Tq, Tk] score matrix is never built
// whole; decode steps (a handful of rows) use gemv over the cache in
// place. Data movement (ops.go) merges contiguous dims, so head
// split/merge transposes copy Dh-long runs. Every fast kernel has a
// plain twin the tests compare against (attention_ref_test.go,
// ops_ref_test.go, rowkernels_test.go, and blas's XxxRef functions).
//
// Fused ops and prepared weights. Layer code may check for the optional
// extensions of fused.go with a type assertion and fall back to the plain
// ops (the graph backend has none): HeadSplitter (head split + RoPE in
// one pass), MergedAttention (attention written as [B, T, H·Dh], no merge
// transpose), GatedActivator (act(gate)·up), ResidualLinear (res +
// x·wᵀ + b; the sgemm starts from the residual with beta = 1, and Linear
// adds a bias the same way) and MultiLinear (one input through several
// weights — q/k/v, gate/up — in one pass; Linears is the helper layers
// call). Eager.LinearMulti hands prepared weights of one kind to their
// GroupMatMul (one fork-join, one stream over all the weights, the
// activations packed or quantized once) and multiplies any other mix one
// weight at a time. PrepareF32 packs Linear weights once into
// blas.PackedMatrix panels for Eager.Prepared, carved in the order given
// from one huge-page arena, so sgemm never transposes or repacks W per
// call and decode steps stream the weights as one sequence (exact
// float32; the panels serve every product and Row, so only the packed
// copy is read afterwards). RoPE
// caches cos/sin for positions [0, n) in an immutable table published
// through an atomic pointer and grown by doubling under a mutex, so a
// RoPE call does no trigonometry and stays safe for concurrent use.
//
// Threading and memory. Large row-wise and elementwise ops split their
// rows across runtime.GOMAXPROCS goroutines once the work passes
// parallelMinWork; small ops stay on the calling goroutine. Attention
// hands its items out dynamically (heaviest causal tiles first), each
// goroutine calling the single-threaded sgemm. Both fork-joins go through
// blas.Parallel / blas.ParallelItems, so they use blas's persistent
// helper threads like the kernels do. Scratch (attention tiles,
// transposed keys, angle tables for negative positions) comes from a sync.Pool; results are
// always fresh tensors, because callers may keep them.
package backend
