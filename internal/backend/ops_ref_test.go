package backend

import (
	"fmt"

	"github.com/fovea-ml/fovea/internal/tensor"
)

// Plain reference twins of the fast ops in ops.go (the former eager
// bodies): one element at a time, no threading, no dim merging.

// binaryRef: y = op(a, b) with NumPy broadcasting, element by element
// through broadcast strides.
func binaryRef(at, bt *tensor.Tensor, op func(x, y float32) float32) *tensor.Tensor {
	out := broadcastShape(at.Shape, bt.Shape)
	y := tensor.New(out...)
	sa, sb := BroadcastStrides(at.Shape, out), BroadcastStrides(bt.Shape, out)
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

// transposeRef: out[i0, i1, …] = x[i_perm⁻¹…], one element at a time.
func transposeRef(xt *tensor.Tensor, perm []int) *tensor.Tensor {
	nd := xt.Dims()
	inStride := make([]int, nd)
	s := 1
	for i := nd - 1; i >= 0; i-- {
		inStride[i] = s
		s *= xt.Shape[i]
	}
	out := make([]int, nd)
	for i, p := range perm {
		out[i] = xt.Shape[p]
	}
	y := tensor.New(out...)
	idx := make([]int, nd)
	for o := range y.Data {
		src := 0
		for i, p := range perm {
			src += idx[i] * inStride[p]
		}
		y.Data[o] = xt.Data[src]
		for d := nd - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < out[d] {
				break
			}
			idx[d] = 0
		}
	}
	return y
}

// ropeRef rotates a copy of x [B, H, T, Dh] with ApplyRoPE row by row.
func ropeRef(xt *tensor.Tensor, pos []int, r *RoPE) *tensor.Tensor {
	if xt.Dims() != 4 || xt.Shape[2] != len(pos) {
		panic(fmt.Sprintf("ropeRef: x %v, %d positions", xt.Shape, len(pos)))
	}
	y := xt.Clone()
	t, dh := xt.Shape[2], xt.Shape[3]
	half := dh / 2
	cos, sin := make([]float32, half), make([]float32, half)
	for row := 0; row < len(y.Data)/dh; row++ {
		r.CosSin(pos[row%t], cos, sin)
		ApplyRoPE(y.Data[row*dh:(row+1)*dh], cos, sin)
	}
	return y
}
