package graph

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/fovea-ml/fovea/internal/backend"
)

// ---- transpose (any permutation) as one strided copy ----

// permuteK is out.Shape[i] = x.Shape[perm[i]], copied in one pass
// (gorgonia's Transpose walks every element through its FlatIterator);
// the gradient is the inverse permutation of dy. When the last dim stays
// last (the head split [B, T, H, Dh] → [B, H, T, Dh]) whole rows move with
// copy.
type permuteK struct{ perm []int }

func (k permuteK) name() string { return fmt.Sprintf("Permute%v", k.perm) }
func (k permuteK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	x := in[0]
	if len(x) != len(k.perm) {
		return nil, fmt.Errorf("permutation %v of %v", k.perm, x)
	}
	seen := make([]bool, len(x))
	out := make(tensor.Shape, len(x))
	for i, p := range k.perm {
		if p < 0 || p >= len(x) || seen[p] {
			return nil, fmt.Errorf("permutation %v of %v", k.perm, x)
		}
		seen[p] = true
		out[i] = x[p]
	}
	return out, nil
}
func (permuteK) diffWRT() []bool  { return []bool{true} }
func (permuteK) overwrites() bool { return true }

func (k permuteK) forward(out float64Or32, in []gorgonia.Value) {
	s := in[0].Shape()
	if is64(out) {
		permuteRun(buf[float64](out), data[float64](in[0]), s, k.perm)
	} else {
		permuteRun(buf[float32](out), data[float32](in[0]), s, k.perm)
	}
}
func (k permuteK) backward(_ int, dx float64Or32, in []gorgonia.Value, y, dy gorgonia.Value) {
	inv := make([]int, len(k.perm))
	for i, p := range k.perm {
		inv[p] = i
	}
	s := y.Shape()
	if is64(dx) {
		permuteRun(buf[float64](dx), data[float64](dy), s, inv)
	} else {
		permuteRun(buf[float32](dx), data[float32](dy), s, inv)
	}
}

// permuteRun writes the permutation perm of x (shape xs, row-major) to y.
func permuteRun[F float](y, x []F, xs tensor.Shape, perm []int) {
	nd := len(xs)
	if nd == 0 {
		copy(y, x)
		return
	}
	strides := make([]int, nd) // element strides of x
	st := 1
	for d := nd - 1; d >= 0; d-- {
		strides[d] = st
		st *= xs[d]
	}
	os := make([]int, nd) // output shape and the input stride of each output dim
	ist := make([]int, nd)
	for i, p := range perm {
		os[i], ist[i] = xs[p], strides[p]
	}
	// The innermost output dim moves as a run: contiguous when it is x's last.
	inner := os[nd-1]
	contiguous := ist[nd-1] == 1
	idx := make([]int, nd-1)
	src := 0
	for o := 0; o < len(y); o += inner {
		row := y[o : o+inner]
		if contiguous {
			copy(row, x[src:src+inner])
		} else {
			for j := range row {
				row[j] = x[src+j*ist[nd-1]]
			}
		}
		for d := nd - 2; d >= 0; d-- {
			idx[d]++
			src += ist[d]
			if idx[d] < os[d] {
				break
			}
			src -= ist[d] * os[d]
			idx[d] = 0
		}
	}
}

// permute builds the transpose node.
func (b *Backend) permute(x backend.Value, perm []int) backend.Value {
	return apply(permuteK{perm: append([]int(nil), perm...)}, b.dt, b.Node(x))
}
