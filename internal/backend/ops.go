package backend

import (
	"fmt"
	"math"

	"github.com/fovea-ml/fovea/internal/blas"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// Fast bodies of the eager row-wise, elementwise and data-movement ops.
// The arithmetic goes through internal/blas's vector kernels; the plain
// twins the tests compare against live in rowkernels_test.go and
// ops_ref_test.go. Every op writes a fresh output tensor (callers may keep
// their inputs and outputs) and splits work across cores only above
// parallelMinWork.

// Rough per-element costs, in multiply-add units, that decide when an op
// is worth splitting across goroutines (see parallelFor).
const (
	costCopy       = 1  // a load and a store
	costNorm       = 4  // two or three passes over a row
	costExp        = 16 // a polynomial exp or erf per element
	elemChunkWidth = 4096
)

// chunked runs fn over [0, n) elements in chunks of elemChunkWidth, split
// across cores when n·cost is large enough.
func chunked(n, cost int, fn func(lo, hi int)) {
	chunks := (n + elemChunkWidth - 1) / elemChunkWidth
	parallelFor(chunks, elemChunkWidth*cost, func(c0, c1 int) {
		fn(c0*elemChunkWidth, min(c1*elemChunkWidth, n))
	})
}

// softmaxFast: y [..., D] = softmax(x) over the last dim.
func softmaxFast(xt *tensor.Tensor) *tensor.Tensor {
	y := tensor.New(xt.Shape...)
	d := xt.Dim(-1)
	if d == 0 {
		return y
	}
	rows := xt.Len() / d
	parallelFor(rows, d*costExp, func(lo, hi int) {
		copy(y.Data[lo*d:hi*d], xt.Data[lo*d:hi*d])
		for r := lo; r < hi; r++ {
			blas.Softmax(y.Data[r*d : (r+1)*d])
		}
	})
	return y
}

// rmsNormFast: y [..., D] = x / sqrt(mean(x²) + eps) · w.
func rmsNormFast(xt, wt *tensor.Tensor, eps float32) *tensor.Tensor {
	d := xt.Dim(-1)
	if wt.Len() != d {
		panic(fmt.Sprintf("backend.RMSNorm: x %v, w %v", xt.Shape, wt.Shape))
	}
	y := tensor.New(xt.Shape...)
	rows := xt.Len() / d
	parallelFor(rows, d*costNorm, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			blas.RMSNorm(y.Data[r*d:(r+1)*d], xt.Data[r*d:(r+1)*d], wt.Data, eps)
		}
	})
	return y
}

// layerNormFast: y [..., D] = (x − mean)/sqrt(var + eps)·w + b; b may be nil.
func layerNormFast(xt, wt *tensor.Tensor, bd []float32, eps float32) *tensor.Tensor {
	d := xt.Dim(-1)
	if wt.Len() != d || (bd != nil && len(bd) != d) {
		panic(fmt.Sprintf("backend.LayerNorm: x %v, w %v, b of %d", xt.Shape, wt.Shape, len(bd)))
	}
	y := tensor.New(xt.Shape...)
	rows := xt.Len() / d
	parallelFor(rows, d*costNorm, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			blas.LayerNorm(y.Data[r*d:(r+1)*d], xt.Data[r*d:(r+1)*d], wt.Data, bd, eps)
		}
	})
	return y
}

// activationFast: y = act(x) elementwise, copy and activation fused per chunk.
func activationFast(xt *tensor.Tensor, act Act) *tensor.Tensor {
	y := tensor.New(xt.Shape...)
	cost := costExp
	if act == ActIdentity || act == ActReLU {
		cost = costCopy
	}
	chunked(len(y.Data), cost, func(lo, hi int) {
		s := y.Data[lo:hi]
		copy(s, xt.Data[lo:hi])
		ActivateInPlace(s, act)
	})
	return y
}

// binOp names the elementwise binary operations.
type binOp int

const (
	binAdd binOp = iota
	binMul
)

// apply writes dst[i] = a[i] op b[i]; all three have len(dst) elements.
func (op binOp) apply(dst, a, b []float32) {
	if len(dst) == 0 {
		return
	}
	a, b = a[:len(dst)], b[:len(dst)]
	switch op {
	case binAdd:
		// dst = a, then dst += 1·b with blas's vector axpy.
		if &dst[0] != &a[0] {
			copy(dst, a)
		}
		blas.Saxpy(len(dst), 1, b, dst)
	case binMul:
		i := 0
		for ; i+4 <= len(dst); i += 4 {
			d, x, y := dst[i:i+4:i+4], a[i:i+4:i+4], b[i:i+4:i+4]
			d[0], d[1], d[2], d[3] = x[0]*y[0], x[1]*y[1], x[2]*y[2], x[3]*y[3]
		}
		for ; i < len(dst); i++ {
			dst[i] = a[i] * b[i]
		}
	default:
		panic(fmt.Sprintf("backend: unknown binary op %d", op))
	}
}

// scalar applies op to one pair.
func (op binOp) scalar(x, y float32) float32 {
	if op == binMul {
		return x * y
	}
	return x + y
}

// binaryFast: y = a op b with NumPy broadcasting. Equal shapes and a
// operand that repeats over the other's leading dims (bias, position
// embeddings, gates) run as contiguous loops split across cores; other
// broadcasts walk strides.
func binaryFast(at, bt *tensor.Tensor, op binOp) *tensor.Tensor {
	if tensor.SameShape(at.Shape, bt.Shape) {
		y := tensor.New(at.Shape...)
		chunked(len(y.Data), costCopy, func(lo, hi int) {
			op.apply(y.Data[lo:hi], at.Data[lo:hi], bt.Data[lo:hi])
		})
		return y
	}
	out := broadcastShape(at.Shape, bt.Shape)
	// Both ops commute: put the full-shape operand first.
	if !tensor.SameShape(out, at.Shape) && tensor.SameShape(out, bt.Shape) {
		at, bt = bt, at
	}
	y := tensor.New(out...)
	if n := bt.Len(); tensor.SameShape(out, at.Shape) && n > 0 && isSuffix(bt.Shape, at.Shape) {
		reps := at.Len() / n // at is [reps, n], bt is [n]
		parallelFor(reps, n*costCopy, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				op.apply(y.Data[r*n:(r+1)*n], at.Data[r*n:(r+1)*n], bt.Data)
			}
		})
		return y
	}
	broadcastWalk(y.Data, out, at, bt, op)
	return y
}

// broadcastWalk fills y (shape out) with a op b through broadcast strides.
func broadcastWalk(y []float32, out []int, at, bt *tensor.Tensor, op binOp) {
	sa, sb := BroadcastStrides(at.Shape, out), BroadcastStrides(bt.Shape, out)
	idx := make([]int, len(out))
	ia, ib := 0, 0
	for i := range y {
		y[i] = op.scalar(at.Data[ia], bt.Data[ib])
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
}

// transposeFast copies x with permuted dims: out.Shape[i] = x.Shape[perm[i]].
//
// Dims of size 1 are dropped and output dims that are adjacent and in
// order in the input are merged, so [B,T,H,Dh]→[B,H,T,Dh] becomes a copy
// of Dh-long runs over a 3-d index. When the innermost run is contiguous
// it moves with copy; otherwise (a true 2-d transpose inside) elements are
// gathered along the output's last dim. Output rows split across cores.
func transposeFast(xt *tensor.Tensor, perm []int) *tensor.Tensor {
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
	outShape := make([]int, nd)
	seen := make([]bool, nd)
	var dims, strides []int // collapsed output dims and their input strides
	for i, p := range perm {
		if p < 0 || p >= nd || seen[p] {
			panic(fmt.Sprintf("backend.Transpose: bad perm %v", perm))
		}
		seen[p] = true
		outShape[i] = xt.Shape[p]
		n, st := xt.Shape[p], inStride[p]
		switch {
		case n == 1:
			continue
		case len(dims) > 0 && strides[len(strides)-1] == st*n:
			dims[len(dims)-1] *= n
			strides[len(strides)-1] = st
		default:
			dims = append(dims, n)
			strides = append(strides, st)
		}
	}
	y := tensor.New(outShape...)
	if len(y.Data) == 0 {
		return y
	}
	if len(dims) == 0 || (len(dims) == 1 && strides[0] == 1) {
		copy(y.Data, xt.Data)
		return y
	}
	k := len(dims) - 1
	if k >= 1 && strides[k-1] == 1 && strides[k] == dims[k-1] {
		// The last two dims swap a contiguous [dims[k], dims[k-1]] block:
		// blocked 2-d transposes, one per outer index.
		transposeBlocks(y.Data, xt.Data, dims, strides)
		return y
	}
	inner, innerSt := dims[k], strides[k]
	outer := len(y.Data) / inner
	parallelFor(outer, inner*costCopy, func(lo, hi int) {
		// Input offset of output row lo.
		idx := make([]int, k)
		src, rem := 0, lo
		for d := k - 1; d >= 0; d-- {
			idx[d] = rem % dims[d]
			rem /= dims[d]
			src += idx[d] * strides[d]
		}
		for row := lo; row < hi; row++ {
			dst := y.Data[row*inner : (row+1)*inner]
			if innerSt == 1 {
				copy(dst, xt.Data[src:src+inner])
			} else {
				for j := range dst {
					dst[j] = xt.Data[src+j*innerSt]
				}
			}
			for d := k - 1; d >= 0; d-- {
				idx[d]++
				src += strides[d]
				if idx[d] < dims[d] {
					break
				}
				src -= strides[d] * dims[d]
				idx[d] = 0
			}
		}
	})
	return y
}

// transposeBlocks handles collapsed dims whose last two form a plain 2-d
// transpose: for every outer index, input block [c, r] (c = dims[k], r =
// dims[k-1]) becomes output block [r, c]. Blocks, or the rows of a single
// block, split across cores.
func transposeBlocks(dst, src []float32, dims, strides []int) {
	k := len(dims) - 1
	r, c := dims[k-1], dims[k]
	outer := tensor.Numel(dims[:k-1])
	base := func(o int) int { // input offset of outer index o
		off := 0
		for d := k - 2; d >= 0; d-- {
			off += (o % dims[d]) * strides[d]
			o /= dims[d]
		}
		return off
	}
	if outer == 1 {
		parallelFor(r, c*costCopy, func(lo, hi int) {
			transposeRows(dst, src, c, r, lo, hi)
		})
		return
	}
	parallelFor(outer, r*c*costCopy, func(lo, hi int) {
		for o := lo; o < hi; o++ {
			b := base(o)
			transposeRows(dst[o*r*c:(o+1)*r*c], src[b:b+r*c], c, r, 0, r)
		}
	})
}

// transposeRows writes rows [lo, hi) of the transpose of src [rows, cols]
// into dst [cols, rows], in square blocks so both sides stay in cache.
func transposeRows(dst, src []float32, rows, cols, lo, hi int) {
	const blk = 16
	for i0 := 0; i0 < rows; i0 += blk {
		i1 := min(i0+blk, rows)
		for j0 := lo; j0 < hi; j0 += blk {
			j1 := min(j0+blk, hi)
			for i := i0; i < i1; i++ {
				row := src[i*cols : (i+1)*cols]
				for j := j0; j < j1; j++ {
					dst[j*rows+i] = row[j]
				}
			}
		}
	}
}

// ropeAngles gives the cos/sin rows [Dh/2] of the positions of one RoPE
// call: rows of r's cached table when every position is ≥ 0 (the usual
// case, no trigonometry per call), else a pooled table computed for these
// positions alone.
type ropeAngles struct {
	cos, sin []float32 // [·, Dh/2]
	half     int
	pos      []int // row of call position i is pos[i]; nil: row i
	buf      *f32Scratch
}

func newRopeAngles(pos []int, r *RoPE) ropeAngles {
	half := len(r.InvFreq)
	hi := 0
	for _, p := range pos {
		if p < 0 {
			buf := getScratch(2 * len(pos) * half)
			a := ropeAngles{cos: buf.s[:len(pos)*half], sin: buf.s[len(pos)*half:], half: half, buf: buf}
			for i, p := range pos {
				r.CosSin(p, a.cos[i*half:(i+1)*half], a.sin[i*half:(i+1)*half])
			}
			return a
		}
		hi = max(hi, p+1)
	}
	t := r.Table(hi)
	return ropeAngles{cos: t.Cos, sin: t.Sin, half: half, pos: pos}
}

// row returns cos and sin [Dh/2] of call position i.
func (a *ropeAngles) row(i int) (cos, sin []float32) {
	p := i
	if a.pos != nil {
		p = a.pos[i]
	}
	return a.cos[p*a.half : (p+1)*a.half], a.sin[p*a.half : (p+1)*a.half]
}

// release returns pooled scratch, if any.
func (a *ropeAngles) release() {
	if a.buf != nil {
		putScratch(a.buf)
	}
}

// ropeFast rotates x [B, H, T, Dh] at positions pos (len T) into a fresh
// tensor, reading cos/sin from r's cached table; rows are rotated in
// parallel.
func ropeFast(xt *tensor.Tensor, pos []int, r *RoPE) *tensor.Tensor {
	if xt.Dims() != 4 || xt.Shape[2] != len(pos) || xt.Shape[3] != 2*len(r.InvFreq) {
		panic(fmt.Sprintf("backend.RoPE: x %v, %d positions, %d frequencies", xt.Shape, len(pos), len(r.InvFreq)))
	}
	t, dh := xt.Shape[2], xt.Shape[3]
	ang := newRopeAngles(pos, r)
	defer ang.release()
	y := tensor.New(xt.Shape...)
	rows := xt.Shape[0] * xt.Shape[1] * t
	parallelFor(rows, dh*costNorm, func(lo, hi int) {
		for row := lo; row < hi; row++ {
			cos, sin := ang.row(row % t)
			ropeInto(y.Data[row*dh:(row+1)*dh], xt.Data[row*dh:(row+1)*dh], cos, sin)
		}
	})
	return y
}

// splitHeadsRoPE turns x [B, T, N·Dh] into y [B, N, T, Dh], rotating every
// head vector at its position when r is non-nil: the head split and RoPE
// in one pass (one read of x, one write of y). Token rows split across
// cores.
func splitHeadsRoPE(xt *tensor.Tensor, heads int, pos []int, r *RoPE) *tensor.Tensor {
	if xt.Dims() != 3 || heads <= 0 || xt.Shape[2]%heads != 0 || (r != nil && (xt.Shape[1] != len(pos) || xt.Shape[2]/heads != 2*len(r.InvFreq))) {
		nf := 0
		if r != nil {
			nf = len(r.InvFreq)
		}
		panic(fmt.Sprintf("backend.SplitHeadsRoPE: x %v, %d heads, %d positions, %d frequencies", xt.Shape, heads, len(pos), nf))
	}
	bs, t, width := xt.Shape[0], xt.Shape[1], xt.Shape[2]
	dh := width / heads
	y := tensor.New(bs, heads, t, dh) // [B, N, T, Dh]
	var ang ropeAngles
	if r != nil {
		ang = newRopeAngles(pos, r)
		defer ang.release()
	}
	parallelFor(bs*t, width*costNorm, func(lo, hi int) {
		for row := lo; row < hi; row++ { // row = b·T + i
			bi, i := row/t, row%t
			src := xt.Data[row*width : (row+1)*width] // [N·Dh]
			if r == nil {
				for n := 0; n < heads; n++ {
					off := ((bi*heads+n)*t + i) * dh
					copy(y.Data[off:off+dh], src[n*dh:(n+1)*dh])
				}
				continue
			}
			cos, sin := ang.row(i)
			for n := 0; n < heads; n++ {
				off := ((bi*heads+n)*t + i) * dh
				ropeInto(y.Data[off:off+dh], src[n*dh:(n+1)*dh], cos, sin)
			}
		}
	})
	return y
}

// ropeInto writes the rotation of x [Dh] to dst [Dh]: ApplyRoPE, out of
// place (rotate_half convention), on blas's vector kernel.
func ropeInto(dst, x, cos, sin []float32) { blas.RotateHalf(dst, x, cos, sin) }

// Activations that internal/blas does not provide (cheap or rare).

// reluInPlace: max(x, 0).
func reluInPlace(s []float32) {
	for i, v := range s {
		s[i] = max(v, 0)
	}
}

// tanhInPlace: tanh in float64, rounded once.
func tanhInPlace(s []float32) {
	for i, v := range s {
		s[i] = float32(math.Tanh(float64(v)))
	}
}

// sigmoidInPlace: 1/(1+e^−x) in float64, rounded once.
func sigmoidInPlace(s []float32) {
	for i, v := range s {
		s[i] = float32(1 / (1 + math.Exp(-float64(v))))
	}
}

// addBiasRows adds bias [n] to each of the m rows of y [m, n] (the bias of
// a linear layer), split across cores for large outputs.
func addBiasRows(y, bias []float32, m, n int) {
	parallelFor(m, n*costCopy, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := y[r*n : (r+1)*n]
			binAdd.apply(row, row, bias)
		}
	})
}
