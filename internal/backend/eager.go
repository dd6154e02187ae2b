package backend

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/fovea-ml/fovea/internal/blas"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// Eager runs every operation at once on float32 tensors: the inference
// path (variable lengths, KV cache, no graph). Values are *tensor.Tensor,
// except weights that were quantized at load time (see Quantized). Operations
// never modify their inputs. An Eager is safe for concurrent use; its
// Quantized table must not change while it is in use.
type Eager struct {
	// Quantized maps a weight matrix to a compressed replacement. Weight(w)
	// returns the replacement, which Linear and Embedding accept in place
	// of the float32 matrix. Nil means no quantization.
	Quantized map[*tensor.Tensor]QuantizedMatrix
}

// QuantizedMatrix is a weight matrix W [Out, In] stored compressed (for
// example Q8_0 blocks, see internal/quant) that multiplies activations
// without being expanded to float32.
type QuantizedMatrix interface {
	// Dims returns (Out, In).
	Dims() (out, in int)
	// MatMulT computes y [m, Out] = x [m, In] · Wᵀ, overwriting y.
	MatMulT(y, x []float32, m int)
	// Row writes row i of W, dequantized, to dst [In] (embedding lookups
	// through a tied, quantized table).
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
	if q, ok := e.Quantized[w]; ok {
		return q
	}
	return w
}

// Const returns t itself.
func (Eager) Const(t *tensor.Tensor) Value { return t }

// Shape returns the shape of v ([Out, In] for a quantized matrix).
func (Eager) Shape(v Value) []int {
	if q, ok := v.(QuantizedMatrix); ok {
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
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, hi)
	}
	wg.Wait()
}

// Linear: x [..., In] · w[Out, In]ᵀ + b → [..., Out].
func (Eager) Linear(x, w, b Value) Value {
	xt := T(x)
	in := xt.Dim(-1)
	var out int
	q, quantized := w.(QuantizedMatrix)
	if quantized {
		var qin int
		out, qin = q.Dims()
		if qin != in {
			panic(fmt.Sprintf("backend.Linear: x %v, quantized w [%d %d]", xt.Shape, out, qin))
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
	y := tensor.New(shape...)
	if quantized {
		q.MatMulT(y.Data, xt.Data, m)
	} else {
		blas.Sgemm(false, true, m, out, in, 1, xt.Data, in, T(w).Data, in, 0, y.Data, out)
	}
	if b != nil {
		bt := T(b)
		if bt.Len() != out {
			panic(fmt.Sprintf("backend.Linear: bias %v for output width %d", bt.Shape, out))
		}
		for r := 0; r < m; r++ {
			row := y.Data[r*out : (r+1)*out]
			for j := range row {
				row[j] += bt.Data[j]
			}
		}
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

// broadcastShape returns the NumPy broadcast of a and b, or panics.
func broadcastShape(a, b []int) []int {
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
			panic(fmt.Sprintf("backend: cannot broadcast %v with %v", a, b))
		}
	}
	return out
}

// broadcastStrides gives the element strides of shape s seen through the
// broadcast shape out (0 on stretched dims).
func broadcastStrides(s, out []int) []int {
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

func binary(a, b Value, op func(x, y float32) float32) Value {
	at, bt := T(a), T(b)
	if tensor.SameShape(at.Shape, bt.Shape) {
		y := tensor.New(at.Shape...)
		for i := range y.Data {
			y.Data[i] = op(at.Data[i], bt.Data[i])
		}
		return y
	}
	out := broadcastShape(at.Shape, bt.Shape)
	y := tensor.New(out...)
	// Fast path: b repeats over a's leading dims (b's shape is a suffix of a's).
	if tensor.SameShape(out, at.Shape) && bt.Len() > 0 && at.Len()%bt.Len() == 0 && isSuffix(bt.Shape, at.Shape) {
		n := bt.Len()
		for i := range y.Data {
			y.Data[i] = op(at.Data[i], bt.Data[i%n])
		}
		return y
	}
	sa, sb := broadcastStrides(at.Shape, out), broadcastStrides(bt.Shape, out)
	idx := make([]int, len(out))
	ia, ib := 0, 0
	for i := range y.Data {
		y.Data[i] = op(at.Data[ia], bt.Data[ib])
		for d := len(out) - 1; d >= 0; d-- {
			idx[d]++
			ia += sa[d]
			ib += sb[d]
			if idx[d] < out[d] {
				break
			}
			ia -= sa[d] * out[d]
			ib -= sb[d] * out[d]
			idx[d] = 0
		}
	}
	return y
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

func (Eager) Add(a, b Value) Value { return binary(a, b, func(x, y float32) float32 { return x + y }) }
func (Eager) Mul(a, b Value) Value { return binary(a, b, func(x, y float32) float32 { return x * y }) }

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
	xt, wt := T(x), T(w)
	d := xt.Dim(-1)
	if wt.Len() != d {
		panic(fmt.Sprintf("backend.RMSNorm: x %v, w %v", xt.Shape, wt.Shape))
	}
	y := tensor.New(xt.Shape...)
	rows := xt.Len() / d
	parallelFor(rows, d, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			rmsNormRow(y.Data[r*d:(r+1)*d], xt.Data[r*d:(r+1)*d], wt.Data, eps)
		}
	})
	return y
}

// LayerNorm: (x − mean)/sqrt(var + eps)·w + b over the last dim (biased variance).
func (Eager) LayerNorm(x, w, b Value, eps float32) Value {
	xt, wt := T(x), T(w)
	d := xt.Dim(-1)
	var bd []float32
	if b != nil {
		bd = T(b).Data
	}
	if wt.Len() != d || (bd != nil && len(bd) != d) {
		panic(fmt.Sprintf("backend.LayerNorm: x %v, w %v", xt.Shape, wt.Shape))
	}
	y := tensor.New(xt.Shape...)
	rows := xt.Len() / d
	parallelFor(rows, d, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			layerNormRow(y.Data[r*d:(r+1)*d], xt.Data[r*d:(r+1)*d], wt.Data, bd, eps)
		}
	})
	return y
}

// Activation applies act elementwise.
func (Eager) Activation(x Value, act Act) Value {
	xt := T(x)
	y := xt.Clone()
	parallelFor(len(y.Data)/1024+1, 1024*8, func(lo, hi int) {
		s := y.Data[min(lo*1024, len(y.Data)):min(hi*1024, len(y.Data))]
		ActivateInPlace(s, act)
	})
	return y
}

// ActivateInPlace applies act to every element of s.
func ActivateInPlace(s []float32, act Act) {
	switch act {
	case ActIdentity:
	case ActGELU:
		gelu(s)
	case ActGELUTanh:
		geluTanh(s)
	case ActQuickGELU:
		quickGELU(s)
	case ActSiLU:
		silu(s)
	case ActReLU:
		for i, v := range s {
			s[i] = max(v, 0)
		}
	case ActTanh:
		for i, v := range s {
			s[i] = float32(math.Tanh(float64(v)))
		}
	case ActSigmoid:
		for i, v := range s {
			s[i] = float32(1 / (1 + math.Exp(-float64(v))))
		}
	default:
		panic(fmt.Sprintf("backend: unknown activation %d", act))
	}
}

// Softmax over the last dim.
func (Eager) Softmax(x Value) Value {
	xt := T(x)
	y := xt.Clone()
	d := xt.Dim(-1)
	rows := xt.Len() / d
	parallelFor(rows, d, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			softmaxRow(y.Data[r*d : (r+1)*d])
		}
	})
	return y
}

// Reshape returns a view sharing x's data.
func (Eager) Reshape(x Value, shape ...int) Value { return T(x).Reshape(shape...) }

// Transpose copies x with permuted dims.
func (Eager) Transpose(x Value, perm ...int) Value {
	xt := T(x)
	nd := xt.Dims()
	if len(perm) != nd {
		panic(fmt.Sprintf("backend.Transpose: perm %v for shape %v", perm, xt.Shape))
	}
	inStride := make([]int, nd)
	s := 1
	for i := nd - 1; i >= 0; i-- {
		inStride[i] = s
		s *= xt.Shape[i]
	}
	out := make([]int, nd)
	st := make([]int, nd) // input stride for each output dim
	seen := make([]bool, nd)
	for i, p := range perm {
		if p < 0 || p >= nd || seen[p] {
			panic(fmt.Sprintf("backend.Transpose: bad perm %v", perm))
		}
		seen[p] = true
		out[i] = xt.Shape[p]
		st[i] = inStride[p]
	}
	y := tensor.New(out...)
	if len(y.Data) == 0 {
		return y
	}
	// Copy the innermost output dim as a strided run.
	inner := out[nd-1]
	innerSt := st[nd-1]
	idx := make([]int, nd)
	src := 0
	for o := 0; o < len(y.Data); o += inner {
		dst := y.Data[o : o+inner]
		for j := range dst {
			dst[j] = xt.Data[src+j*innerSt]
		}
		for d := nd - 2; d >= 0; d-- {
			idx[d]++
			src += st[d]
			if idx[d] < out[d] {
				break
			}
			src -= st[d] * out[d]
			idx[d] = 0
		}
	}
	return y
}

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
	q, quantized := table.(QuantizedMatrix)
	var v, d int
	if quantized {
		v, d = q.Dims()
	} else {
		tt := T(table)
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
	xt := T(x)
	if xt.Dims() != 4 || xt.Shape[2] != len(pos) || xt.Shape[3] != 2*len(r.InvFreq) {
		panic(fmt.Sprintf("backend.RoPE: x %v, %d positions, %d frequencies", xt.Shape, len(pos), len(r.InvFreq)))
	}
	y := xt.Clone()
	t, dh := xt.Shape[2], xt.Shape[3]
	half := dh / 2
	cos := make([]float32, t*half)
	sin := make([]float32, t*half)
	for i, p := range pos {
		r.CosSin(p, cos[i*half:(i+1)*half], sin[i*half:(i+1)*half])
	}
	heads := xt.Shape[0] * xt.Shape[1]
	for h := 0; h < heads; h++ {
		for i := 0; i < t; i++ {
			off := (h*t + i) * dh
			ApplyRoPE(y.Data[off:off+dh], cos[i*half:(i+1)*half], sin[i*half:(i+1)*half])
		}
	}
	return y
}

// Attention: softmax(q·kᵀ·scale + mask)·v per head, with GQA and an
// optional KV cache (see AttnOpts).
func (Eager) Attention(q, k, v Value, opt AttnOpts) Value {
	qt, kt, vt := T(q), T(k), T(v)
	if qt.Dims() != 4 || kt.Dims() != 4 || !tensor.SameShape(kt.Shape, vt.Shape) ||
		qt.Shape[0] != kt.Shape[0] || qt.Shape[3] != kt.Shape[3] || kt.Shape[1] == 0 || qt.Shape[1]%kt.Shape[1] != 0 {
		panic(fmt.Sprintf("backend.Attention: q %v, k %v, v %v", qt.Shape, kt.Shape, vt.Shape))
	}
	b, h, tq, dh := qt.Shape[0], qt.Shape[1], qt.Shape[2], qt.Shape[3]
	kvh := kt.Shape[1]
	group := h / kvh
	tk := kt.Shape[2]
	rows := func(bi, hi int) ([]float32, []float32) {
		off := (bi*kvh + hi) * tk * dh
		return kt.Data[off : off+tk*dh], vt.Data[off : off+tk*dh]
	}
	if c := opt.Cache; c != nil {
		cb, ch, cd := c.Dims()
		if cb != b || ch != kvh || cd != dh {
			panic(fmt.Sprintf("backend.Attention: cache [%d,%d,·,%d] for k %v", cb, ch, cd, kt.Shape))
		}
		c.Append(kt.Data, vt.Data, tk)
		tk = c.Len()
		rows = c.Rows
	}
	scale := opt.Scale
	if scale == 0 {
		scale = float32(1 / math.Sqrt(float64(dh)))
	}
	var mask *tensor.Tensor
	var mb, mh int // mask strides (0 when broadcast) in units of [Tq, Tk] planes
	if opt.Mask != nil {
		mask = T(opt.Mask)
		if mask.Dims() != 4 || mask.Shape[2] != tq || mask.Shape[3] != tk ||
			(mask.Shape[0] != 1 && mask.Shape[0] != b) || (mask.Shape[1] != 1 && mask.Shape[1] != h) {
			panic(fmt.Sprintf("backend.Attention: mask %v for q %v and %d keys", mask.Shape, qt.Shape, tk))
		}
		if mask.Shape[0] != 1 {
			mb = mask.Shape[1]
		}
		if mask.Shape[1] != 1 {
			mh = 1
		}
	}
	y := tensor.New(b, h, tq, dh)
	parallelFor(b*h, tq*tk*dh*2, func(lo, hi int) {
		scores := make([]float32, tq*tk)
		for bh := lo; bh < hi; bh++ {
			bi, hd := bh/h, bh%h
			kr, vr := rows(bi, hd/group)
			qr := qt.Data[bh*tq*dh : (bh+1)*tq*dh]
			blas.Sgemm(false, true, tq, tk, dh, scale, qr, dh, kr, dh, 0, scores, tk)
			for i := 0; i < tq; i++ {
				row := scores[i*tk : (i+1)*tk]
				if mask != nil {
					plane := (bi*mb + hd*mh) * tq * tk
					m := mask.Data[plane+i*tk : plane+(i+1)*tk]
					for j := range row {
						row[j] += m[j]
					}
				}
				if opt.Causal {
					for j := tk - tq + i + 1; j < tk; j++ {
						row[j] = float32(math.Inf(-1))
					}
				}
				softmaxRow(row)
			}
			blas.Sgemm(false, false, tq, dh, tk, 1, scores, tk, vr, dh, 0, y.Data[bh*tq*dh:(bh+1)*tq*dh], dh)
		}
	})
	return y
}
