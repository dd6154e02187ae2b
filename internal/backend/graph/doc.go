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
// the project notes on gorgonia): Add and HadamardProd on equal shapes,
// Reshape, Slice. Everything else is a
// custom op (op.go: a kernel with forward and per-input backward math,
// wrapped as a gorgonia SDOp whose gradient is another node), most of
// them running on internal/blas:
//
//   - Linear (linear.go): y = x·wᵀ (+ b) in one sgemm(N, T); dx = dy·w is
//     sgemm(N, N) and dw = dyᵀ·x sgemm(T, N): the transposes are folded
//     into the calls, nothing is materialised. LinearAdd (backend.
//     ResidualLinear) starts the product from the residual. LinearMulti
//     (backend.MultiLinear, multilinear.go) stacks the q/k/v or gate/up
//     weights into one product of width ΣOut; column-slice nodes cut the
//     members out. MatMul is the same over flattened batch dims, one
//     single-threaded sgemm per batch item, items in parallel.
//   - Attention (attn_fused.go): scale·q·kᵀ, mask, causal −Inf, row
//     softmax and ·v in one op per (batch, head), grouped query heads
//     reading their kv head in place; it keeps the probabilities for the
//     backward pass, which computes dq, dk and dv in one pass of five
//     sgemm calls per head; the additive mask broadcasts over B and H and
//     is not differentiated. AttentionMerged (backend.MergedAttention)
//     writes [B, T, H·Dh] directly.
//   - SplitHeadsRoPE (backend.HeadSplitter) and GatedActivation
//     (backend.GatedActivator), fused.go: the head split with the
//     rotation, and SwiGLU's act(gate)·up, one node each. Transpose is
//     one strided copy (permute.go; gorgonia's walks a FlatIterator).
//     Embedding is a row gather whose gradient scatter-adds into a [V, D]
//     buffer the op keeps (gorgonia's ByIndices allocates it every run).
//     Concat (concat.go) is one block copy per input and outer index, and
//     so is each input's gradient (gorgonia's Concat and the Slice nodes
//     of its gradient walk a FlatIterator: 4% of a stage-1 step).
//   - Softmax (last axis, stable, an all −Inf row gives zeros): gorgonia's
//     last-axis SoftMax starts every row's max from the tensor's first
//     element (NaN on masked rows), and its hash omits isLog.
//   - RMSNorm, LayerNorm: one fused row op instead of a dozen nodes.
//   - Activation (GELU erf and tanh, quick_gelu, SiLU, ReLU, tanh,
//     sigmoid): gorgonia has no erf. SiLU's derivative takes σ from
//     blas's vector exp.
//   - RoPE: positions and inverse frequencies are op parameters; cos/sin
//     come from backend.RoPE.CosSin and the float32 forward calls
//     backend.ApplyRoPE itself; the gradient rotates by −angle.
//   - Broadcast Add/Mul of any rank (NumPy rules): gorgonia's
//     BroadcastAdd stops at 4 dims and materialises repeats. binary.go
//     holds graph's one broadcast index helper (shape rule, strides,
//     walk); the attention mask uses it too.
//   - Scale, and the CrossEntropy loss (mean over non-ignored rows of
//     −log softmax at the target; all rows ignored gives 0, not NaN). In
//     float32 it runs on blas's Max/ExpSub (vector exp), rows in
//     parallel, and keeps the probabilities, so the backward pass is one
//     pass of p − onehot.
//
// # Frozen weights and buffers
//
// Backward first marks, for every custom op, the inputs that no
// trainable parameter influences (a frozen weight, a constant, anything
// computed from them only); DiffWRT drops them, so differentiation adds
// no gradient node for them and the machine does no work for them: a
// frozen decoder's Linear computes dx only, never dw, and multiplies by
// panels of its weight packed once on the first run (RefreshFrozen
// repacks after a frozen tensor is changed in place). A Linear's input
// gradient multiplies only the runs of non-zero rows of dy (rows a loss
// ignores, such as stage 1's image positions at the LM head, give zero
// rows of dx without a product). Compile marks the column slices of a
// LinearMulti that no node reads (gate and up, which GatedPair takes
// from the product directly): the machine copies nothing for them, and
// Read computes them on demand. Each op owns its
// output buffer (allocated on the first run, reused by every later run;
// zeroed first only for kernels that do not overwrite every element), and
// ops with state (attention, cross-entropy, LinearMulti) keep their
// scratch across runs.
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
// rows with internal/blas (GemvT), groups prepared products and fuses
// attention with an online softmax, while the graph runs blas.Sgemm and
// a plain row softmax.
//
// A float64 graph exists only for gradient checks; its forward runs the
// generic reference forms in kernels.go (softmaxRowRef, rmsNormRowRef,
// layerNormRowRef, activateRef: the blas formulas evaluated in float64),
// and TestFloat64MatchesEager checks that they compute the same function
// as the float32 kernels (max |Δ| ≤ 1e-6). Backward passes are checked
// against float64 central differences (TestGradients), and the float32
// backward kernels training runs (sgemm with transposed operands, vector
// exp, the fused ops) against the float64 ones
// (TestFloat32GradientsMatchFloat64, relative 1e-5).
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
// torch.optim.AdamW, on blas.AdamW (AVX2, memory-bound) in chunks spread
// over the threads, reading the gradients in place. MaxGradNorm (or
// ClipGradNorm, GradNorm) clips to a global L2 norm as
// torch.nn.utils.clip_grad_norm_; in Step the scale is folded into the
// update.
//
// # Threads and data parallelism
//
// Options.Threads is a Backend's thread budget: every kernel it builds
// holds it (no package-level setting), 0 meaning GOMAXPROCS at run time.
// Each threaded kernel splits its work into tasks fixed by the shapes and
// adds partial results in task order, so results never depend on the
// thread count. On a small model, though, every op of a step is short,
// and splitting each over two threads scales 1.0–1.33× only (fork-join
// waits, a helper descheduled on a shared machine).
//
// Replicas (replicas.go) splits the batch instead: NewReplicas calls a
// build function once per shard, each on a fresh Backend with Threads 1
// binding the same weight tensors, weights the shard's loss by a factor
// Run sets (ShardWeight, an op of its own, before Backward: by default
// the shard's share of the batch's non-ignored CrossEntropy targets, so
// that Σ_s w_s·mean_s is the batch's mean), and compiles each. Run runs
// the shards side by side, one goroutine each (shard 0 on the caller),
// then adds shard 1..N−1's gradients to shard 0's in shard order, in
// chunks over the threads — whichever thread adds a chunk, each element
// is g_0 + g_1 + … in that order, so the result does not depend on
// GOMAXPROCS or scheduling. Params returns shard 0's parameters, so
// AdamW.Step, GradNorm and ClipGradNorm read the summed gradients
// unchanged. The weights are read-only during Run. The replicas share
// one packing of every frozen Linear weight (packshare.go: the first
// replica to reach a product packs op(B), the others wait for it and
// read it, until RefreshFrozen); each replica's sgemm packs the trainable
// weights, which change every step, into its own cache-sized scratch (a
// shared per-step packing measured no faster: it goes through memory,
// and the other replicas wait for it). Memory: N graphs of activations.
// Every product sums over k in slices that do not depend on the thread
// count (blas's depthStep), so one replica per thread and one graph on
// several threads multiply alike. TestReplicasMatchSingleGraph checks 2
// and 3 replicas against one graph on a decoder with unevenly ignored
// targets and uneven rows (float32: max |Δ| 1.1e-8 with gradients up to
// 0.14; float64: 6e-17) and the weights after an AdamW step.
//
// Attention with a KV cache panics: training runs whole sequences.
// Programmer errors (shape mismatches, ids outside the table when a graph
// is built) panic with the shapes in the message; SetIDs, SetTargets and
// SetConst return errors for bad data. A Backend and its Machines belong
// to one goroutine; independent Backends (the replicas) run side by side.
package graph
