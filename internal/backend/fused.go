package backend

import (
	"fmt"

	"github.com/fovea-ml/fovea/internal/tensor"
)

// Optional Backend extensions: fused forms of short op sequences that
// layer code checks for with a type assertion, falling back to the plain
// Backend ops (Eager and the graph backend implement them all). Each fused op
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

// MultiLinear multiplies one input by several weights in one pass (the
// q/k/v or gate/up projections of a block).
type MultiLinear interface {
	// LinearMulti is Linear(x, ws[g], bs[g]) for every g: x [..., In],
	// ws[g] [Out_g, In], bs nil or bs[g] [Out_g] or nil → [..., Out_g].
	// Fallback: one Linear per weight.
	LinearMulti(x Value, ws, bs []Value) []Value
}

// GroupMatMul is a PreparedMatrix that multiplies one input by several
// prepared matrices of its own kind in one pass: one fork-join, one
// stream over all their weights, one quantization of the activations.
type GroupMatMul interface {
	PreparedMatrix
	// MatMulTGroup sets ys[g] [m, Out_g] = x [m, In]·W_gᵀ for W_g =
	// group[g] (group[0] is the receiver), overwriting ys. It reports
	// false, having computed nothing, when some member is not of the
	// receiver's kind; the caller then multiplies one matrix at a time.
	MatMulTGroup(ys [][]float32, x []float32, m int, group []PreparedMatrix) bool
}

var (
	_ MultiLinear     = Eager{}
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

// LinearMulti: one pass over every weight when they are prepared matrices
// of one kind (GroupMatMul), else one Linear each.
func (e Eager) LinearMulti(x Value, ws, bs []Value) []Value {
	if bs != nil && len(bs) != len(ws) {
		panic(fmt.Sprintf("backend.LinearMulti: %d weights, %d biases", len(ws), len(bs)))
	}
	if ys, ok := e.linearGroup(T(x), ws); ok {
		for g, y := range ys {
			if b := biasAt(bs, g); b != nil {
				bt := T(b)
				out := y.Dim(-1)
				if len(bt.Data) != out {
					panic(fmt.Sprintf("backend.LinearMulti: bias %v for output width %d", bt.Shape, out))
				}
				addBiasRows(y.Data, bt.Data, y.Len()/out, out) // [m, Out] += [Out]
			}
		}
		out := make([]Value, len(ys))
		for g, y := range ys {
			out[g] = y
		}
		return out
	}
	return linearsEach(e, x, ws, bs)
}

// linearGroup multiplies xt [..., In] by every weight of ws in one
// GroupMatMul pass, or reports false when they are not all prepared
// matrices of one kind.
func (Eager) linearGroup(xt *tensor.Tensor, ws []Value) ([]*tensor.Tensor, bool) {
	if len(ws) < 2 {
		return nil, false
	}
	group := make([]PreparedMatrix, len(ws))
	for g, w := range ws {
		q, ok := w.(PreparedMatrix)
		if !ok {
			return nil, false
		}
		group[g] = q
	}
	gm, ok := group[0].(GroupMatMul)
	if !ok {
		return nil, false
	}
	in := xt.Dim(-1)
	m := xt.Len() / max(in, 1)
	ys := make([]*tensor.Tensor, len(ws))
	data := make([][]float32, len(ws))
	for g, q := range group {
		out, qin := q.Dims()
		if qin != in {
			panic(fmt.Sprintf("backend.LinearMulti: x %v, prepared w [%d %d]", xt.Shape, out, qin))
		}
		shape := append(append([]int(nil), xt.Shape[:xt.Dims()-1]...), out)
		ys[g] = tensor.New(shape...)
		data[g] = ys[g].Data
	}
	if !gm.MatMulTGroup(data, xt.Data, m, group) {
		return nil, false
	}
	return ys, true
}

// Linears is Linear(x, ws[g], bs[g]) for every g (bs may be nil, or hold
// nil entries), through MultiLinear when b offers it.
func Linears(b Backend, x Value, ws, bs []Value) []Value {
	if ml, ok := b.(MultiLinear); ok {
		return ml.LinearMulti(x, ws, bs)
	}
	return linearsEach(b, x, ws, bs)
}

// linearsEach is MultiLinear's fallback: one Linear per weight.
func linearsEach(b Backend, x Value, ws, bs []Value) []Value {
	out := make([]Value, len(ws))
	for g, w := range ws {
		out[g] = b.Linear(x, w, biasAt(bs, g))
	}
	return out
}

// biasAt is bs[g], or nil when bs is nil.
func biasAt(bs []Value, g int) Value {
	if bs == nil {
		return nil
	}
	return bs[g]
}
