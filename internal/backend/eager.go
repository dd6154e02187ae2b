package backend

import (
	"fmt"
	"runtime"

	"github.com/fovea-ml/fovea/internal/blas"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// Eager runs every operation at once on float32 tensors: the inference
// path (variable lengths, KV cache, no graph). Values are *tensor.Tensor,
// except weights prepared at load time (see Prepared). Operations never
// modify their inputs. An Eager is safe for concurrent use; its Prepared
// table must not change while it is in use.
type Eager struct {
	// Prepared maps a weight matrix to a replacement made for fast
	// multiplication: compressed (Q8_0 blocks, internal/quant) or laid out
	// for the sgemm kernels. Weight(w) returns the replacement, which
	// Linear and Embedding accept in place of the float32 matrix. Nil
	// means every weight is used as it is.
	Prepared map[*tensor.Tensor]PreparedMatrix
}

// PreparedMatrix is a weight matrix W [Out, In] stored in a form made for
// multiplying activations (quantized blocks, pre-packed panels), never
// expanded back to a float32 [Out, In] tensor.
type PreparedMatrix interface {
	// Dims returns (Out, In).
	Dims() (out, in int)
	// MatMulT computes y [m, Out] = x [m, In] · Wᵀ, overwriting y.
	MatMulT(y, x []float32, m int)
	// Row writes row i of W as float32 to dst [In] (embedding lookups
	// through a tied, prepared table).
	Row(i int, dst []float32)
}

var _ Backend = Eager{}

// T unwraps an eager Value. It panics on a nil or foreign Value.
func T(v Value) *tensor.Tensor {
	t, ok := v.(*tensor.Tensor)
	if !ok || t == nil {
		panic(fmt.Sprintf("backend: %T is not an eager tensor", v))
	}
	return t
}

// Weight returns w, or its quantized replacement when one is registered.
func (e Eager) Weight(w *tensor.Tensor) Value {
	if q, ok := e.Prepared[w]; ok {
		return q
	}
	return w
}

// Const returns t itself.
func (Eager) Const(t *tensor.Tensor) Value { return t }

// Shape returns the shape of v ([Out, In] for a quantized matrix).
func (Eager) Shape(v Value) []int {
	if q, ok := v.(PreparedMatrix); ok {
		out, in := q.Dims()
		return []int{out, in}
	}
	return T(v).Shape
}

// parallelMinWork is the number of multiply-adds below which splitting a
// loop across goroutines costs more than it saves.
const parallelMinWork = 1 << 15

// parallelFor runs fn over [0, n) in contiguous chunks, one per core when
// the total work (n·costPer) is large enough.
func parallelFor(n, costPer int, fn func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if workers > n {
		workers = n
	}
	if workers <= 1 || n*costPer < parallelMinWork {
		fn(0, n)
		return
	}
	chunk := (n + workers - 1) / workers
	blas.Parallel((n+chunk-1)/chunk, func(t int) { fn(t*chunk, min((t+1)*chunk, n)) })
}

// Linear: x [..., In] · w[Out, In]ᵀ + b → [..., Out].
func (e Eager) Linear(x, w, b Value) Value { return e.linear(T(x), w, b, nil) }

// linear computes res + x·wᵀ + b ([..., Out]); b and res may be nil.
// Prepared weights and decode-sized inputs (m ≤ blas.SmallM rows, blas.GemvT
// streams each weight row once) add bias and residual afterwards; the
// sgemm path starts C from them (beta = 1), saving a pass.
func (Eager) linear(xt *tensor.Tensor, w, b Value, res *tensor.Tensor) *tensor.Tensor {
	in := xt.Dim(-1)
	var out int
	q, prepared := w.(PreparedMatrix)
	if prepared {
		var qin int
		out, qin = q.Dims()
		if qin != in {
			panic(fmt.Sprintf("backend.Linear: x %v, prepared w [%d %d]", xt.Shape, out, qin))
		}
	} else {
		wt := T(w)
		if wt.Dims() != 2 || wt.Shape[1] != in {
			panic(fmt.Sprintf("backend.Linear: x %v, w %v", xt.Shape, wt.Shape))
		}
		out = wt.Shape[0]
	}
	m := xt.Len() / in
	shape := append(append([]int(nil), xt.Shape[:xt.Dims()-1]...), out)
	var bias []float32
	if b != nil {
		bias = T(b).Data
		if len(bias) != out {
			panic(fmt.Sprintf("backend.Linear: bias %v for output width %d", T(b).Shape, out))
		}
	}
	if res != nil && !tensor.SameShape(res.Shape, shape) {
		panic(fmt.Sprintf("backend.LinearAdd: residual %v for output %v", res.Shape, shape))
	}
	y := tensor.New(shape...)
	if !prepared && m > blas.SmallM {
		var beta float32
		switch {
		case res != nil:
			copy(y.Data, res.Data)
			beta = 1
			if bias != nil {
				addBiasRows(y.Data, bias, m, out) // [m, Out] += [Out]
			}
		case bias != nil:
			for r := 0; r < m; r++ {
				copy(y.Data[r*out:(r+1)*out], bias)
			}
			beta = 1
		}
		blas.Sgemm(false, true, m, out, in, 1, xt.Data, in, T(w).Data, in, beta, y.Data, out)
		return y
	}
	if prepared {
		q.MatMulT(y.Data, xt.Data, m)
	} else {
		// Decode steps: stream each weight row once, split across cores.
		blas.GemvT(y.Data, xt.Data, T(w).Data, m, out, in)
	}
	if bias != nil {
		addBiasRows(y.Data, bias, m, out) // [m, Out] += [Out]
	}
	if res != nil {
		chunked(len(y.Data), costCopy, func(lo, hi int) {
			binAdd.apply(y.Data[lo:hi], y.Data[lo:hi], res.Data[lo:hi])
		})
	}
	return y
}

// MatMul: a [..., M, K] · b [..., K, N] (or [..., N, K] with transB) → [..., M, N].
func (Eager) MatMul(a, b Value, transB bool) Value {
	at, bt := T(a), T(b)
	if at.Dims() < 2 || at.Dims() != bt.Dims() || !tensor.SameShape(at.Shape[:at.Dims()-2], bt.Shape[:bt.Dims()-2]) {
		panic(fmt.Sprintf("backend.MatMul: a %v, b %v", at.Shape, bt.Shape))
	}
	m, k := at.Dim(-2), at.Dim(-1)
	kb, n := bt.Dim(-2), bt.Dim(-1)
	if transB {
		kb, n = n, kb
	}
	if kb != k {
		panic(fmt.Sprintf("backend.MatMul: a %v, b %v (transB=%v)", at.Shape, bt.Shape, transB))
	}
	batch := tensor.Numel(at.Shape[:at.Dims()-2])
	shape := append(append([]int(nil), at.Shape[:at.Dims()-2]...), m, n)
	y := tensor.New(shape...)
	ldb := n
	if transB {
		ldb = k
	}
	for i := 0; i < batch; i++ {
		blas.Sgemm(false, transB, m, n, k, 1, at.Data[i*m*k:(i+1)*m*k], k, bt.Data[i*k*n:(i+1)*k*n], ldb, 0, y.Data[i*m*n:(i+1)*m*n], n)
	}
	return y
}

// BroadcastShape returns the NumPy broadcast of shapes a and b: aligned
// from the right, a size-1 or missing dimension stretches to the other's
// size. Both backends use it for Add and Mul.
func BroadcastShape(a, b []int) ([]int, error) {
	n := max(len(a), len(b))
	out := make([]int, n)
	for i := 0; i < n; i++ {
		da, db := 1, 1
		if j := len(a) - n + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - n + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db, db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, fmt.Errorf("backend: cannot broadcast %v with %v", a, b)
		}
	}
	return out, nil
}

// broadcastShape is BroadcastShape for kernels, where a mismatch is a
// programmer error.
func broadcastShape(a, b []int) []int {
	out, err := BroadcastShape(a, b)
	if err != nil {
		panic(err.Error())
	}
	return out
}

// BroadcastStrides gives the element strides of shape s seen through the
// broadcast shape out (0 on stretched dimensions).
func BroadcastStrides(s, out []int) []int {
	st := make([]int, len(out))
	stride := 1
	for i := len(out) - 1; i >= 0; i-- {
		j := len(s) - len(out) + i
		if j >= 0 && s[j] != 1 {
			st[i] = stride
		}
		if j >= 0 {
			stride *= s[j]
		}
	}
	return st
}

// isSuffix reports whether s equals the trailing dims of full, ignoring
// leading ones of s.
func isSuffix(s, full []int) bool {
	for len(s) > 0 && s[0] == 1 && len(s) > 1 {
		s = s[1:]
	}
	if len(s) > len(full) {
		return false
	}
	return tensor.SameShape(s, full[len(full)-len(s):])
}

// Add is a + b with NumPy broadcasting (see binaryFast).
func (Eager) Add(a, b Value) Value { return binaryFast(T(a), T(b), binAdd) }

// Mul is a · b elementwise with NumPy broadcasting (see binaryFast).
func (Eager) Mul(a, b Value) Value { return binaryFast(T(a), T(b), binMul) }

func (Eager) Scale(x Value, s float32) Value {
	xt := T(x)
	y := tensor.New(xt.Shape...)
	for i, v := range xt.Data {
		y.Data[i] = v * s
	}
	return y
}

// RMSNorm: x / sqrt(mean(x²) + eps) · w over the last dim. Like HF
// LlamaRMSNorm the mean of squares is accumulated in float32.
func (Eager) RMSNorm(x, w Value, eps float32) Value {
	return rmsNormFast(T(x), T(w), eps) // [..., D]
}

// LayerNorm: (x − mean)/sqrt(var + eps)·w + b over the last dim (biased variance).
func (Eager) LayerNorm(x, w, b Value, eps float32) Value {
	var bd []float32
	if b != nil {
		bd = T(b).Data
	}
	return layerNormFast(T(x), T(w), bd, eps) // [..., D]
}

// Activation applies act elementwise.
func (Eager) Activation(x Value, act Act) Value { return activationFast(T(x), act) }

// ActivateInPlace applies act to every element of s.
func ActivateInPlace(s []float32, act Act) {
	switch act {
	case ActIdentity:
	case ActGELU:
		blas.GELU(s)
	case ActGELUTanh:
		blas.GELUTanh(s)
	case ActQuickGELU:
		blas.QuickGELU(s)
	case ActSiLU:
		blas.SiLU(s)
	case ActReLU:
		reluInPlace(s)
	case ActTanh:
		tanhInPlace(s)
	case ActSigmoid:
		sigmoidInPlace(s)
	default:
		panic(fmt.Sprintf("backend: unknown activation %d", act))
	}
}

// Softmax over the last dim.
func (Eager) Softmax(x Value) Value { return softmaxFast(T(x)) }

// Reshape returns a view sharing x's data.
func (Eager) Reshape(x Value, shape ...int) Value { return T(x).Reshape(shape...) }

// Transpose copies x with permuted dims.
func (Eager) Transpose(x Value, perm ...int) Value { return transposeFast(T(x), perm) }

// Slice keeps [start, end) along axis.
func (Eager) Slice(x Value, axis, start, end int) Value {
	xt := T(x)
	if axis < 0 {
		axis += xt.Dims()
	}
	if axis < 0 || axis >= xt.Dims() || start < 0 || end > xt.Shape[axis] || start > end {
		panic(fmt.Sprintf("backend.Slice: axis %d [%d:%d] of %v", axis, start, end, xt.Shape))
	}
	outer := tensor.Numel(xt.Shape[:axis])
	inner := tensor.Numel(xt.Shape[axis+1:])
	n := xt.Shape[axis]
	shape := append([]int(nil), xt.Shape...)
	shape[axis] = end - start
	y := tensor.New(shape...)
	w := (end - start) * inner
	for o := 0; o < outer; o++ {
		copy(y.Data[o*w:(o+1)*w], xt.Data[(o*n+start)*inner:(o*n+end)*inner])
	}
	return y
}

// Concat joins xs along axis.
func (Eager) Concat(axis int, xs ...Value) Value {
	if len(xs) == 0 {
		panic("backend.Concat: nothing to concatenate")
	}
	first := T(xs[0])
	if axis < 0 {
		axis += first.Dims()
	}
	shape := append([]int(nil), first.Shape...)
	shape[axis] = 0
	for _, v := range xs {
		t := T(v)
		if t.Dims() != first.Dims() {
			panic(fmt.Sprintf("backend.Concat: %v with %v", first.Shape, t.Shape))
		}
		for d := range shape {
			if d != axis && t.Shape[d] != first.Shape[d] {
				panic(fmt.Sprintf("backend.Concat: %v with %v on axis %d", first.Shape, t.Shape, axis))
			}
		}
		shape[axis] += t.Shape[axis]
	}
	y := tensor.New(shape...)
	outer := tensor.Numel(shape[:axis])
	inner := tensor.Numel(shape[axis+1:])
	off := 0
	for o := 0; o < outer; o++ {
		for _, v := range xs {
			t := T(v)
			w := t.Shape[axis] * inner
			copy(y.Data[off:off+w], t.Data[o*w:(o+1)*w])
			off += w
		}
	}
	return y
}

// Embedding gathers rows of table [V, D] → [len(ids), D].
func (Eager) Embedding(table Value, ids []int) Value {
	q, quantized := table.(PreparedMatrix)
	var v, d int
	if quantized {
		v, d = q.Dims()
	} else {
		tt := T(table)
		if tt.Dims() != 2 {
			panic(fmt.Sprintf("backend.Embedding: table %v is not [V, D]", tt.Shape))
		}
		v, d = tt.Shape[0], tt.Shape[1]
	}
	y := tensor.New(len(ids), d)
	for i, id := range ids {
		if id < 0 || id >= v {
			panic(fmt.Sprintf("backend.Embedding: id %d outside vocabulary of %d", id, v))
		}
		if quantized {
			q.Row(id, y.Data[i*d:(i+1)*d])
		} else {
			copy(y.Data[i*d:(i+1)*d], T(table).Data[id*d:(id+1)*d])
		}
	}
	return y
}

// RoPE rotates x [B, H, T, Dh] at positions pos.
func (Eager) RoPE(x Value, pos []int, r *RoPE) Value {
	return ropeFast(T(x), pos, r) // [B, H, T, Dh]
}

// Attention: softmax(q·kᵀ·scale + mask)·v per head, with GQA and an
// optional KV cache (see AttnOpts). q [B, H, Tq, Dh] → [B, H, Tq, Dh]; the
// fused tiled kernel is in attention.go.
func (Eager) Attention(q, k, v Value, opt AttnOpts) Value {
	p := newAttnProblem(q, k, v, opt)
	y := tensor.New(p.b, p.h, p.tq, p.dh) // [B, H, Tq, Dh]
	attend(&p, y.Data)
	return y
}
