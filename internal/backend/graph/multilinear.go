package graph

import (
	"fmt"
	"slices"
	"strings"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/fovea-ml/fovea/internal/backend"
	ft "github.com/fovea-ml/fovea/internal/tensor"
)

var _ backend.MultiLinear = (*Backend)(nil)

// ---- several linear layers of one input in one product ----

// linearMultiK is y = x·[w_0; …; w_{G−1}]ᵀ (+ [b_0 … b_{G−1}]): the q/k/v
// or gate/up projections of one activation as one sgemm of width ΣOut
// instead of G narrow ones (one packing of x, full register tiles).
// Inputs: x [..., In], the G weights [Out_g, In], then the biases of the
// members that have one. The output [..., ΣOut] is cut into the members'
// outputs by colSliceK nodes. The forward pass stacks the weights into
// one [ΣOut, In] buffer (kept for the backward pass of the same run);
//
//	dx   = dy·W                       one sgemm(N, N) of depth ΣOut
//	dw_g = dy[:, cols_g]ᵀ·x           sgemm(T, N) on a column window of dy
//	db_g = Σ_rows dy[:, cols_g]
type linearMultiK struct {
	outs    []int  // Out_g
	hasBias []bool // per member
	st      *multiState
	th      *budget
}

type multiState struct {
	w32 []float32
	w64 []float64
	// frozen: every weight is frozen (Backward), so the stacked weights
	// are packed once (pack) and never restacked.
	frozenPack
}

func (k linearMultiK) setFrozen(f []bool) {
	all := true
	for g := range k.outs {
		all = all && f[1+g]
	}
	k.st.frozen = all
}

func (k linearMultiK) name() string {
	var b strings.Builder
	for g, o := range k.outs {
		fmt.Fprintf(&b, "%d/%v,", o, k.hasBias[g])
	}
	return "LinearMulti{" + b.String() + "}"
}
func (k linearMultiK) width() int {
	w := 0
	for _, o := range k.outs {
		w += o
	}
	return w
}
func (k linearMultiK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	x := in[0]
	if len(x) == 0 {
		return nil, fmt.Errorf("x %v", x)
	}
	bi := 1 + len(k.outs)
	for g, o := range k.outs {
		w := in[1+g]
		if len(w) != 2 || w[0] != o || w[1] != x[len(x)-1] {
			return nil, fmt.Errorf("x %v, weight %d %v", x, g, w)
		}
		if k.hasBias[g] {
			if b := in[bi]; len(b) != 1 || b[0] != o {
				return nil, fmt.Errorf("bias %v for output width %d", b, o)
			}
			bi++
		}
	}
	return append(x[:len(x)-1].Clone(), k.width()), nil
}
func (k linearMultiK) diffWRT() []bool {
	n := 1 + len(k.outs)
	for _, b := range k.hasBias {
		if b {
			n++
		}
	}
	return slices.Repeat([]bool{true}, n)
}
func (linearMultiK) overwrites() bool { return true }

func (k linearMultiK) forward(out float64Or32, in []gorgonia.Value) {
	if is64(out) {
		k.st.w64 = grow(k.st.w64, k.width()*lastDim(in[0]))
		multiFwd(k, buf[float64](out), k.st.w64, in)
	} else if k.th.sharedFor(k.st.frozen) != nil {
		multiFwdShared(k, buf[float32](out), in)
	} else {
		stacked := k.st.frozen && k.st.wT != nil
		k.st.w32 = grow(k.st.w32, k.width()*lastDim(in[0]))
		multiFwd(k, buf[float32](out), k.st.w32, in, stacked)
	}
}

func multiFwd[F float](k linearMultiK, y, wcat []F, in []gorgonia.Value, stacked ...bool) {
	x := data[F](in[0])
	n := lastDim(in[0])
	m, width := len(x)/n, k.width()
	if len(stacked) == 0 || !stacked[0] { // frozen weights stay stacked and packed from the first run
		off := 0
		for g, o := range k.outs {
			copy(wcat[off*n:(off+o)*n], data[F](in[1+g]))
			off += o
		}
	}
	var beta F
	if slices.Contains(k.hasBias, true) {
		row := make([]F, width)
		bi, off := 1+len(k.outs), 0
		for g, o := range k.outs {
			if k.hasBias[g] {
				copy(row[off:off+o], data[F](in[bi]))
				bi++
			}
			off += o
		}
		for r := 0; r < m; r++ {
			copy(y[r*width:(r+1)*width], row)
		}
		beta = 1
	}
	if y32, ok := any(y).([]float32); ok && k.st.frozen {
		k.th.blas().SgemmPacked(m, 1, any(x).([]float32), n, k.st.packedT(k.th, any(wcat).([]float32), width, n), float32(beta), y32, width)
		return
	}
	gemm(k.th.blas(), false, true, m, width, n, x, n, wcat, n, beta, y, width) // [M, ΣOut]
}

func (k linearMultiK) backward(i int, dx float64Or32, in []gorgonia.Value, _, dy gorgonia.Value) {
	if is64(dx) {
		multiBwd(k, i, buf[float64](dx), k.st.w64, in, data[float64](dy))
	} else {
		multiBwd(k, i, buf[float32](dx), k.st.w32, in, data[float32](dy))
	}
}

// members returns the float32 weights of the members, in order.
func (k linearMultiK) members(in []gorgonia.Value) [][]float32 {
	ws := make([][]float32, len(k.outs))
	for g := range k.outs {
		ws[g] = data[float32](in[1+g])
	}
	return ws
}

// multiFwdShared is multiFwd on the replicas' shared packing of the
// stacked frozen weights (no per-replica stacking).
func multiFwdShared(k linearMultiK, y []float32, in []gorgonia.Value) {
	x := data[float32](in[0])
	n := lastDim(in[0])
	m, width := len(x)/n, k.width()
	beta := float32(0)
	if slices.Contains(k.hasBias, true) {
		clear(y)
		beta = 1
	}
	bi, off := 1+len(k.outs), 0
	for g, o := range k.outs {
		if k.hasBias[g] {
			b := data[float32](in[bi])
			for r := 0; r < m; r++ {
				copy(y[r*width+off:r*width+off+o], b)
			}
			bi++
		}
		off += o
	}
	pb := k.th.shared().packed(k.th.blas(), true, n, width, k.members(in)...)
	k.th.blas().SgemmPacked(m, 1, x, n, pb, beta, y, width)
}

func multiBwd[F float](k linearMultiK, i int, dx, wcat []F, in []gorgonia.Value, dy []F) {
	x := data[F](in[0])
	n := lastDim(in[0])
	m, width := len(x)/n, k.width()
	if i == 0 {
		if dx32, ok := any(dx).([]float32); ok && k.th.sharedFor(k.st.frozen) != nil {
			pb := k.th.shared().packed(k.th.blas(), false, width, n, k.members(in)...)
			k.th.blas().SgemmPacked(m, 1, any(dy).([]float32), width, pb, 0, dx32, n)
			return
		}
		if dx32, ok := any(dx).([]float32); ok && k.st.frozen {
			k.th.blas().SgemmPacked(m, 1, any(dy).([]float32), width, k.st.packedN(k.th, any(wcat).([]float32), width, n), 0, dx32, n)
			return
		}
		gemm(k.th.blas(), false, false, m, n, width, dy, width, wcat, n, 0, dx, n) // dx = dy·W
		return
	}
	// Input i is weight g, or the bias of the b-th member with a bias.
	g, isBias := i-1, false
	if g >= len(k.outs) {
		isBias, g = true, -1
		for j, nb := 0, i-1-len(k.outs); j < len(k.outs); j++ {
			if k.hasBias[j] {
				if nb == 0 {
					g = j
					break
				}
				nb--
			}
		}
	}
	off := 0
	for j := 0; j < g; j++ {
		off += k.outs[j]
	}
	o := k.outs[g]
	if !isBias {
		gemm(k.th.blas(), true, false, o, n, m, dy[off:], width, x, n, 0, dx, n) // dw_g = dy[:, cols]ᵀ·x
		return
	}
	clear(dx)
	for r := 0; r < m; r++ {
		row := dy[r*width+off : r*width+off+o]
		for j, v := range row {
			dx[j] += v
		}
	}
}

// ---- a column window of the last dim ----

// colSliceK is x[..., lo:hi] (one member of a LinearMulti output); the
// gradient is dy in those columns and zero elsewhere. A slice that no
// node consumes (SwiGLU's gate and up, which GatedPair reads from the
// product directly) is marked unused by Compile and copies nothing when
// the machine runs; Read computes it on demand.
type colSliceK struct {
	lo, hi int
	st     *colSliceState
}

// colSliceState is shared by the copies of one colSliceK.
type colSliceState struct{ unused bool }

func newColSliceK(lo, hi int) colSliceK { return colSliceK{lo: lo, hi: hi, st: &colSliceState{}} }

func (k colSliceK) name() string { return fmt.Sprintf("ColSlice{%d:%d}", k.lo, k.hi) }
func (k colSliceK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	x := in[0]
	if len(x) == 0 || k.lo < 0 || k.hi > x[len(x)-1] || k.lo >= k.hi {
		return nil, fmt.Errorf("columns [%d:%d] of %v", k.lo, k.hi, x)
	}
	return append(x[:len(x)-1].Clone(), k.hi-k.lo), nil
}
func (colSliceK) diffWRT() []bool  { return []bool{true} }
func (colSliceK) overwrites() bool { return true }
func (k colSliceK) forward(out float64Or32, in []gorgonia.Value) {
	if k.st != nil && k.st.unused {
		return
	}
	k.copyOut(out, in)
}

// copyOut writes the columns into out.
func (k colSliceK) copyOut(out float64Or32, in []gorgonia.Value) {
	w := lastDim(in[0])
	if is64(out) {
		colSliceRun(buf[float64](out), data[float64](in[0]), w, k.lo, k.hi, false)
	} else {
		colSliceRun(buf[float32](out), data[float32](in[0]), w, k.lo, k.hi, false)
	}
}
func (k colSliceK) backward(_ int, dx float64Or32, in []gorgonia.Value, _, dy gorgonia.Value) {
	w := lastDim(in[0])
	if is64(dx) {
		colSliceRun(buf[float64](dx), data[float64](dy), w, k.lo, k.hi, true)
	} else {
		colSliceRun(buf[float32](dx), data[float32](dy), w, k.lo, k.hi, true)
	}
}

// colSliceRun copies columns [lo, hi) of rows of width w: forward from
// wide into narrow dst; back from narrow src into wide dst, zero elsewhere.
func colSliceRun[F float](dst, src []F, w, lo, hi int, back bool) {
	o := hi - lo
	if !back {
		for r := 0; r*o < len(dst); r++ {
			copy(dst[r*o:(r+1)*o], src[r*w+lo:r*w+hi])
		}
		return
	}
	for r := 0; r*w < len(dst); r++ {
		row := dst[r*w : (r+1)*w]
		clear(row[:lo])
		copy(row[lo:hi], src[r*o:(r+1)*o])
		clear(row[hi:])
	}
}

// LinearMulti is Linear(x, ws[g], bs[g]) for every g as one product
// (backend.MultiLinear); bs may be nil, or hold nil for members without a
// bias.
func (b *Backend) LinearMulti(x backend.Value, ws, bs []backend.Value) []backend.Value {
	if bs != nil && len(bs) != len(ws) {
		panic(fmt.Sprintf("graph.LinearMulti: %d weights, %d biases", len(ws), len(bs)))
	}
	if len(ws) == 1 {
		var bias backend.Value
		if bs != nil {
			bias = bs[0]
		}
		return []backend.Value{b.Linear(x, ws[0], bias)}
	}
	xs := b.Shape(x)
	k := linearMultiK{st: &multiState{}, th: b.th}
	b.packs = append(b.packs, &k.st.frozenPack)
	inputs := []*gorgonia.Node{b.Node(x)}
	for _, w := range ws {
		s := b.Shape(w)
		if len(xs) == 0 || len(s) != 2 || s[1] != xs[len(xs)-1] {
			panic(fmt.Sprintf("graph.Linear: x %v, w %v", xs, s))
		}
		k.outs = append(k.outs, s[0])
		inputs = append(inputs, b.Node(w))
	}
	for g := range ws {
		has := bs != nil && bs[g] != nil
		k.hasBias = append(k.hasBias, has)
		if has {
			if n := ft.Numel(b.Shape(bs[g])); n != k.outs[g] {
				panic(fmt.Sprintf("graph.Linear: bias %v for output width %d", b.Shape(bs[g]), k.outs[g]))
			}
			inputs = append(inputs, b.Node(b.flat(bs[g])))
		}
	}
	y := apply(k, b.dt, inputs...) // [..., ΣOut]
	out := make([]backend.Value, len(ws))
	lo := 0
	for g, o := range k.outs {
		out[g] = apply(newColSliceK(lo, lo+o), b.dt, y) // [..., Out_g]
		lo += o
	}
	return out
}

// markUnusedSlices flags every column-slice node that no other node
// consumes, so that running the machine skips its copy.
func (b *Backend) markUnusedSlices() {
	for _, n := range b.g.AllNodes() {
		op, ok := n.Op().(*fwdOp)
		if !ok {
			continue
		}
		if k, ok := op.k.(colSliceK); ok && k.st != nil {
			k.st.unused = b.g.To(n.ID()).Len() == 0
		}
	}
}

// skippedSlice returns the value of n computed now when n is a column
// slice the machine skips (markUnusedSlices), and false otherwise.
func skippedSlice(n *gorgonia.Node) (gorgonia.Value, bool) {
	op, ok := n.Op().(*fwdOp)
	if !ok {
		return nil, false
	}
	k, ok := op.k.(colSliceK)
	if !ok || k.st == nil || !k.st.unused {
		return nil, false
	}
	in := op.inputs[0].Value()
	if in == nil {
		return nil, false
	}
	d, out := newBuffer(op.shape, op.dt)
	k.copyOut(out, []gorgonia.Value{in})
	return d, true
}
