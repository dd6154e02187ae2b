package backend

import (
	"fmt"

	"github.com/fovea-ml/fovea/internal/tensor"
)

// Value is a tensor as a backend sees it: a *tensor.Tensor for Eager, a
// graph node for the gorgonia backend. Layer code never looks inside a
// Value; it only passes Values back to the Backend that made them.
type Value interface{}

// Backend is the small set of operations that layer code is written
// against, once, for both inference (Eager) and training (the graph
// backend in internal/backend/graph). Shapes are outermost first.
//
// Broadcasting in Add and Mul follows NumPy: shapes are aligned from the
// right, and a dimension of 1 (or a missing leading dimension) stretches.
type Backend interface {
	// Weight turns a checkpoint tensor into a Value. The graph backend
	// returns one node per *tensor.Tensor (tied weights share a node) and
	// decides whether it is trainable.
	Weight(w *tensor.Tensor) Value
	// Const turns activations, masks or other non-trainable data into a Value.
	Const(t *tensor.Tensor) Value
	// Shape returns the shape of v (do not modify it).
	Shape(v Value) []int

	// Linear computes x·wᵀ + b: x [..., In], w [Out, In], b [Out] or nil → [..., Out].
	Linear(x, w, b Value) Value
	// MatMul multiplies the last two dims: a [..., M, K] · b [..., K, N]
	// (b [..., N, K] when transB) → [..., M, N]; leading dims must match.
	MatMul(a, b Value, transB bool) Value
	// Add and Mul are elementwise with NumPy broadcasting.
	Add(a, b Value) Value
	Mul(a, b Value) Value
	// Scale multiplies every element by s.
	Scale(x Value, s float32) Value

	// RMSNorm over the last dim: x / sqrt(mean(x²) + eps) · w (HF LlamaRMSNorm).
	RMSNorm(x, w Value, eps float32) Value
	// LayerNorm over the last dim: (x - mean) / sqrt(var + eps) · w + b; b may be nil.
	LayerNorm(x, w, b Value, eps float32) Value
	// Activation applies an elementwise nonlinearity.
	Activation(x Value, act Act) Value
	// Softmax over the last dim, numerically stable; a row that is all -Inf gives zeros.
	Softmax(x Value) Value

	// Reshape returns x with a new shape of the same size (one dim may be -1).
	Reshape(x Value, shape ...int) Value
	// Transpose permutes the dims: out.Shape[i] = x.Shape[perm[i]].
	Transpose(x Value, perm ...int) Value
	// Slice keeps indices [start, end) along axis.
	Slice(x Value, axis, start, end int) Value
	// Concat joins values along axis; other dims must agree.
	Concat(axis int, xs ...Value) Value
	// Embedding gathers rows of table [V, D] → [len(ids), D].
	Embedding(table Value, ids []int) Value

	// RoPE rotates x [B, H, T, Dh] by the angles of positions pos (len T),
	// rotate_half convention (HF apply_rotary_pos_emb).
	RoPE(x Value, pos []int, r *RoPE) Value
	// Attention is scaled-dot-product attention with grouped-query heads:
	// q [B, H, Tq, Dh], k, v [B, KVH, Tk, Dh] with H % KVH == 0 → [B, H, Tq, Dh].
	// See AttnOpts for the causal mask, the additive mask and the KV cache.
	Attention(q, k, v Value, opt AttnOpts) Value
}

// AttnOpts configures Backend.Attention.
type AttnOpts struct {
	// Scale multiplies q·kᵀ; 0 means 1/sqrt(Dh).
	Scale float32
	// Causal lets query i see keys j ≤ (Tk - Tq) + i, Tk counting cached keys:
	// a query sits at the end of the key sequence.
	Causal bool
	// Mask is an optional additive mask broadcastable to [B, H, Tq, Tk]
	// (given as [B or 1, 1 or H, Tq, Tk]).
	Mask Value
	// Cache, when non-nil, receives k and v (appended) before attention, and
	// the attention runs over everything cached. Eager only: the graph
	// backend trains on whole sequences and panics on a cache.
	Cache *KVCache
}

// Act names an elementwise activation.
type Act int

// The activations, named as in HF's ACT2FN.
const (
	ActIdentity  Act = iota
	ActGELU          // exact: x·Φ(x) with erf
	ActGELUTanh      // tanh approximation (gelu_new, gelu_pytorch_tanh)
	ActQuickGELU     // x·σ(1.702x) (CLIP)
	ActSiLU          // x·σ(x)
	ActReLU
	ActTanh
	ActSigmoid
)

var actNames = map[string]Act{
	"linear":            ActIdentity,
	"gelu":              ActGELU,
	"gelu_new":          ActGELUTanh,
	"gelu_pytorch_tanh": ActGELUTanh,
	"gelu_fast":         ActGELUTanh,
	"quick_gelu":        ActQuickGELU,
	"silu":              ActSiLU,
	"swish":             ActSiLU,
	"relu":              ActReLU,
	"tanh":              ActTanh,
	"sigmoid":           ActSigmoid,
}

// ParseAct maps an HF hidden_act name to an Act.
func ParseAct(name string) (Act, error) {
	a, ok := actNames[name]
	if !ok {
		return 0, fmt.Errorf("backend: unsupported activation %q", name)
	}
	return a, nil
}

func (a Act) String() string {
	for k, v := range actNames {
		if v == a && k != "gelu_pytorch_tanh" && k != "gelu_fast" && k != "swish" {
			return k
		}
	}
	return fmt.Sprintf("Act(%d)", int(a))
}
