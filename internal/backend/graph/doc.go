// Package graph implements backend.Backend over a gorgonia expression
// graph, for training with reverse-mode autodiff. Layer code written once
// against backend.Backend runs unchanged here and on backend.Eager.
//
// # Nodes
//
// Weight(w) creates one input node per *tensor.Tensor, so tied weights
// (the same tensor used twice, e.g. embedding and LM head) share a node
// and their gradients add up. Options.Trainable decides per tensor whether
// the node is a learnable Param (returned by Params, differentiated by
// Backward) or a frozen one (e.g. the vision encoder in stage-1
// training). In float32 mode a node's value shares the tensor's Data, so
// AdamW updates the tensor in place and the graph sees it; in float64
// mode (Options.Float64, for gradient checks) the data is converted and
// AdamW writes it back. Const(t) is an input node too; SetConst, SetIDs
// (Embedding) and SetTargets (CrossEntropy) rebind data between runs.
//
// # Layout
//
// Shapes are outermost first: activations [B, T, D], attention queries
// [B, H, T, Dh], keys and values [B, KVH, T, Dh]. Grouped-query attention
// folds the G = H/KVH query heads of one kv head into rows,
// q → [B, KVH, G·Tq, Dh], so both BatchedMatMuls see identical batch dims
// (gorgonia requires it) and no key or value is repeated.
//
// # Built-ins and custom ops
//
// Only gorgonia built-ins measured correct in v0.9.18 are used (see
// the project notes on gorgonia): Mul (2-D, for Linear), BatchedMatMul
// (3-D/4-D, transB), Add and HadamardProd on equal shapes, Reshape,
// Transpose, Slice, Concat, ByIndices (Embedding). Everything else is a
// custom op (op.go: a kernel with forward and per-input backward math,
// wrapped as a gorgonia SDOp whose gradient is another node):
//
//   - Softmax (last axis, stable, an all −Inf row gives zeros): gorgonia's
//     last-axis SoftMax starts every row's max from the tensor's first
//     element (NaN on masked rows), and its hash omits isLog.
//   - RMSNorm, LayerNorm: one fused row op instead of a dozen nodes.
//   - Activation (GELU erf and tanh, quick_gelu, SiLU, ReLU, tanh,
//     sigmoid): gorgonia has no erf.
//   - RoPE: positions and inverse frequencies are op parameters; cos/sin
//     come from backend.RoPE.CosSin and the float32 forward calls
//     backend.ApplyRoPE itself; the gradient rotates by −angle.
//   - AttnScores (scale, causal −Inf, additive mask broadcast over B/H):
//     the mask is not differentiated.
//   - Broadcast Add/Mul of any rank (NumPy rules): gorgonia's
//     BroadcastAdd stops at 4 dims and materialises repeats. binary.go
//     holds graph's one broadcast index helper (shape rule, strides,
//     walk); the attention mask uses it too.
//   - Scale, and the CrossEntropy loss (mean over non-ignored rows of
//     −log softmax at the target, log-sum-exp in float64; all rows
//     ignored gives 0, not NaN).
//
// Every op's WriteHash includes ALL its parameters (positions,
// frequencies, eps, activation, scale, ignore index): gorgonia merges
// nodes with equal hashes and equal children, which silently broke its own
// Dropout and SoftMax/LogSoftMax.
//
// # One set of kernels
//
// Both backends call the same kernels, so both give the same numbers. In
// a float32 graph the forward of Softmax, RMSNorm and LayerNorm calls
// internal/blas's Softmax, RMSNorm and LayerNorm row by row, Activation
// calls backend.ActivateInPlace (blas's GELU, GELUTanh, QuickGELU, SiLU)
// and RoPE calls backend.ApplyRoPE — exactly what backend.Eager runs, so
// these ops, Scale, broadcast Add/Mul and the data-movement ops match
// Eager bit for bit (TestEagerParity compares the float32 bits). Linear,
// MatMul and Attention agree to 1e-6, not bitwise: Eager multiplies ≤ 8
// rows with internal/blas (GemvT) and fuses attention with an online
// softmax, while the graph needs gorgonia's differentiable Mul and
// BatchedMatMul (routed to blas.Sgemm) and a separate softmax node.
//
// A float64 graph exists only for gradient checks; its forward runs the
// generic reference forms in kernels.go (softmaxRowRef, rmsNormRowRef,
// layerNormRowRef, activateRef: the blas formulas evaluated in float64),
// and TestFloat64MatchesEager checks that they compute the same function
// as the float32 kernels (max |Δ| ≤ 1e-6). Backward passes are generic
// over float32/float64 and checked against float64 central differences.
//
// # Running
//
// Graph shapes are static: a machine compiled for [4, 8] rejects [6, 8].
// Build one Backend per (batch, length) bucket — pad lengths up to a few
// bucket sizes (e.g. powers of two) with ignored targets — call Backward
// once, Compile once, and reuse the Machine for every step of that
// bucket; graph building and compilation cost tens of milliseconds per
// shape. AdamW is this package's own (gorgonia's NewAdamW leaves the
// weights unchanged): decoupled weight decay with bias correction, as
// torch.optim.AdamW.
//
// Attention with a KV cache panics: training runs whole sequences.
// Programmer errors (shape mismatches, ids outside the table when a graph
// is built) panic with the shapes in the message; SetIDs, SetTargets and
// SetConst return errors for bad data. A Backend and its Machines belong
// to one goroutine.
package graph
