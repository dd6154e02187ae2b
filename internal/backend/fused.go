package backend

import (
	"fmt"

	"github.com/fovea-ml/fovea/internal/tensor"
)

// Optional Backend extensions: fused forms of short op sequences that
// layer code checks for with a type assertion, falling back to the plain
// Backend ops (the graph backend implements none of them). Each fused op
// computes what its fallback computes, up to float32 rounding order.

// HeadSplitter fuses the head split of attention with RoPE.
type HeadSplitter interface {
	// SplitHeadsRoPE turns x [B, T, N·Dh] into [B, N, T, Dh] (N = heads),
	// rotated at positions pos (len T) when r is non-nil. Fallback:
	// Reshape to [B, T, N, Dh], Transpose(0, 2, 1, 3), RoPE.
	SplitHeadsRoPE(x Value, heads int, pos []int, r *RoPE) Value
}

// MergedAttention is Attention whose output has its heads merged.
type MergedAttention interface {
	// AttentionMerged is Attention(q, k, v, opt) written as [B, Tq, H·Dh].
	// Fallback: Transpose(0, 2, 1, 3) and Reshape of Attention's output.
	AttentionMerged(q, k, v Value, opt AttnOpts) Value
}

// GatedActivator fuses the gate of a gated MLP (SwiGLU for SiLU).
type GatedActivator interface {
	// GatedActivation is act(gate) · up elementwise; gate and up have the
	// same shape. Fallback: Mul(Activation(gate, act), up).
	GatedActivation(gate, up Value, act Act) Value
}

// ResidualLinear fuses a linear layer with the residual add after it.
type ResidualLinear interface {
	// LinearAdd is res + x·wᵀ + b: x [..., In], w [Out, In], b [Out] or
	// nil, res [..., Out] of the output's shape. Fallback: Add(res, Linear(x, w, b)).
	LinearAdd(x, w, b, res Value) Value
}

var (
	_ HeadSplitter    = Eager{}
	_ MergedAttention = Eager{}
	_ GatedActivator  = Eager{}
	_ ResidualLinear  = Eager{}
)

// SplitHeadsRoPE: x [B, T, N·Dh] → [B, N, T, Dh], rotated when r != nil,
// in one pass over x.
func (Eager) SplitHeadsRoPE(x Value, heads int, pos []int, r *RoPE) Value {
	return splitHeadsRoPE(T(x), heads, pos, r) // [B, N, T, Dh]
}

// AttentionMerged: Attention with the output written as [B, Tq, H·Dh].
func (Eager) AttentionMerged(q, k, v Value, opt AttnOpts) Value {
	p := newAttnProblem(q, k, v, opt)
	p.merged = true
	y := tensor.New(p.b, p.tq, p.h*p.dh) // [B, Tq, H·Dh]
	attend(&p, y.Data)
	return y
}

// GatedActivation: act(gate)·up, activation and product fused per chunk
// (the chunk stays in L1 between the two).
func (Eager) GatedActivation(gate, up Value, act Act) Value {
	gt, ut := T(gate), T(up)
	if !tensor.SameShape(gt.Shape, ut.Shape) {
		panic(fmt.Sprintf("backend.GatedActivation: gate %v, up %v", gt.Shape, ut.Shape))
	}
	y := tensor.New(gt.Shape...)
	chunked(len(y.Data), costExp, func(lo, hi int) {
		s := y.Data[lo:hi]
		copy(s, gt.Data[lo:hi])
		ActivateInPlace(s, act)
		binMul.apply(s, s, ut.Data[lo:hi])
	})
	return y
}

// LinearAdd: res + x·wᵀ + b. The sgemm path starts from the residual
// (beta = 1), so the sum costs no extra pass.
func (e Eager) LinearAdd(x, w, b, res Value) Value {
	return e.linear(T(x), w, b, T(res))
}
