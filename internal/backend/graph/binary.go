package graph

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/blas"
)

// ---- NumPy-broadcasting Add / Mul of any rank ----

// bcastK is a ⊕ b with NumPy broadcasting (shapes aligned from the right,
// size-1 or missing dims stretch). gorgonia's BroadcastAdd handles at most
// 4 dims and materialises the repeats; this op walks strides instead and
// reduces the gradient over the stretched dims.
type bcastK struct {
	mul  bool
	a, b tensor.Shape
	out  tensor.Shape
}

func newBcastK(mul bool, a, b tensor.Shape) (bcastK, error) {
	out, err := broadcastShape(a, b)
	if err != nil {
		return bcastK{}, err
	}
	return bcastK{mul: mul, a: a.Clone(), b: b.Clone(), out: out}, nil
}

// Broadcast indexing: the shape rule and per-operand strides are
// internal/backend's (shared with the eager backend); the walk over output
// elements is graph's.
// bcastK and the fused attention (its mask) both use it.

// broadcastShape is backend.BroadcastShape on gorgonia shapes.
func broadcastShape(a, b tensor.Shape) (tensor.Shape, error) {
	out, err := backend.BroadcastShape(a, b)
	return tensor.Shape(out), err
}

func (k bcastK) name() string {
	op := "Add"
	if k.mul {
		op = "Mul"
	}
	return fmt.Sprintf("Broadcast%s{%v,%v}", op, []int(k.a), []int(k.b))
}
func (k bcastK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	if !in[0].Eq(k.a) || !in[1].Eq(k.b) {
		return nil, fmt.Errorf("inputs %v, %v; op built for %v, %v", in[0], in[1], k.a, k.b)
	}
	return k.out.Clone(), nil
}
func (bcastK) diffWRT() []bool { return []bool{true, true} }

// walk calls fn(o, ia, ib) for every output element o with the matching
// element offsets of a and b.
func (k bcastK) walk(fn func(o, ia, ib int)) {
	out := k.out
	n := out.TotalSize()
	if len(out) == 0 {
		fn(0, 0, 0)
		return
	}
	sa, sb := backend.BroadcastStrides(k.a, out), backend.BroadcastStrides(k.b, out)
	idx := make([]int, len(out))
	ia, ib := 0, 0
	for o := 0; o < n; o++ {
		fn(o, ia, ib)
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

func (k bcastK) forward(out float64Or32, in []gorgonia.Value) {
	if is64(out) {
		bcastFwd(k, buf[float64](out), data[float64](in[0]), data[float64](in[1]))
	} else {
		bcastFwd(k, buf[float32](out), data[float32](in[0]), data[float32](in[1]))
	}
}
func bcastFwd[F float](k bcastK, y, a, b []F) {
	if k.mul {
		k.walk(func(o, ia, ib int) { y[o] = a[ia] * b[ib] })
	} else {
		k.walk(func(o, ia, ib int) { y[o] = a[ia] + b[ib] })
	}
}
func (k bcastK) backward(i int, dx float64Or32, in []gorgonia.Value, _, dy gorgonia.Value) {
	if is64(dx) {
		bcastBwd(k, i, buf[float64](dx), data[float64](in[0]), data[float64](in[1]), data[float64](dy))
	} else {
		bcastBwd(k, i, buf[float32](dx), data[float32](in[0]), data[float32](in[1]), data[float32](dy))
	}
}

// bcastBwd sums dy (times the other operand for Mul) into the stretched
// positions of input i.
func bcastBwd[F float](k bcastK, i int, dx, a, b, dy []F) {
	acc := make([]float64, len(dx))
	k.walk(func(o, ia, ib int) {
		g := float64(dy[o])
		self, other := ia, b[ib]
		if i == 1 {
			self, other = ib, a[ia]
		}
		if k.mul {
			g *= float64(other)
		}
		acc[self] += g
	})
	for j, v := range acc {
		dx[j] = F(v)
	}
}

// ---- cross-entropy loss: logits [..., V], targets Int [rows] → scalar ----

// crossEntropyK is mean over non-ignored rows of −log softmax(logits)[target].
// A batch whose targets are all ignored has loss 0 (HF would give NaN).
//
// In float32 the forward pass runs on blas's vector kernels, rows in
// parallel: m = Max(row), e = exp(row − m) and s = Σe in one ExpSub pass,
// loss_row = m + log s − row[target] (in float64), and it keeps the
// probabilities e/s for the backward pass, which is then one pass:
// dlogits = dy/n·(p − onehot). The float64 graph evaluates the same
// formulas with math.Exp (ceFwd, ceBwd: the reference twins).
type crossEntropyK struct {
	ignore int
	st     *ceState
	th     *budget
}

// ceState holds the float32 forward pass's probabilities [rows, V] and
// per-row losses, reused across runs.
type ceState struct {
	p    []float32
	loss []float64
}

func newCrossEntropyK(th *budget, ignore int) crossEntropyK {
	return crossEntropyK{ignore: ignore, st: &ceState{}, th: th}
}

func (k crossEntropyK) name() string { return fmt.Sprintf("CrossEntropy{ignore=%d}", k.ignore) }
func (crossEntropyK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	l, t := in[0], in[1]
	if len(l) == 0 || l[len(l)-1] == 0 {
		return nil, fmt.Errorf("logits %v", l)
	}
	if rows := l.TotalSize() / l[len(l)-1]; len(t) != 1 || t[0] != rows {
		return nil, fmt.Errorf("logits %v need %d targets, got shape %v", l, rows, t)
	}
	return tensor.Shape{}, nil
}
func (crossEntropyK) diffWRT() []bool  { return []bool{true, false} }
func (crossEntropyK) overwrites() bool { return true }
func (k crossEntropyK) forward(out float64Or32, in []gorgonia.Value) {
	tg := ints(in[1])
	v := lastDim(in[0])
	if is64(out) {
		buf[float64](out)[0] = ceFwd(data[float64](in[0]), tg, v, k.ignore)
		return
	}
	buf[float32](out)[0] = k.forward32(data[float32](in[0]), tg, v)
}

// forward32 is ceFwd on the vector kernels; it leaves the probabilities
// of every non-ignored row in k.st.p.
func (k crossEntropyK) forward32(x []float32, targets []int, v int) float32 {
	st := k.st
	st.p = grow(st.p, len(x))
	st.loss = grow(st.loss, len(targets))
	blas.ParallelItems(len(targets), k.th.workers(len(targets)), func(_, r int) {
		t := targets[r]
		if t == k.ignore {
			st.loss[r] = 0
			return
		}
		row, p := x[r*v:(r+1)*v], st.p[r*v:(r+1)*v]
		copy(p, row)
		m := blas.Max(p)
		s := blas.ExpSub(p, m)
		blas.Scale(1/s, p)
		st.loss[r] = float64(m) + math.Log(float64(s)) - float64(row[t])
	})
	var total float64
	n := 0
	for r, t := range targets {
		if t != k.ignore {
			total += st.loss[r]
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return float32(total / float64(n))
}

// logSumExp of one row, in float64.
func logSumExp[F float](row []F) float64 {
	m := math.Inf(-1)
	for _, x := range row {
		m = max(m, float64(x))
	}
	var s float64
	for _, x := range row {
		s += math.Exp(float64(x) - m)
	}
	return m + math.Log(s)
}

func ceFwd[F float](x []F, targets []int, v, ignore int) F {
	var total float64
	n := 0
	for r, t := range targets {
		if t == ignore {
			continue
		}
		row := x[r*v : (r+1)*v]
		total += logSumExp(row) - float64(row[t])
		n++
	}
	if n == 0 {
		return 0
	}
	return F(total / float64(n))
}
func (k crossEntropyK) backward(_ int, dx float64Or32, in []gorgonia.Value, _, dy gorgonia.Value) {
	tg := ints(in[1])
	v := lastDim(in[0])
	if is64(dx) {
		ceBwd(buf[float64](dx), data[float64](in[0]), tg, v, k.ignore, float64(data[float64](dy)[0]))
		return
	}
	k.backward32(buf[float32](dx), tg, v, float64(data[float32](dy)[0]))
}

// backward32 is ceBwd from the probabilities the forward pass kept.
func (k crossEntropyK) backward32(dx []float32, targets []int, v int, dy float64) {
	n := 0
	for _, t := range targets {
		if t != k.ignore {
			n++
		}
	}
	g := float32(0)
	if n > 0 {
		g = float32(dy / float64(n))
	}
	blas.ParallelItems(len(targets), k.th.workers(len(targets)), func(_, r int) {
		d := dx[r*v : (r+1)*v]
		t := targets[r]
		if t == k.ignore || n == 0 {
			clear(d)
			return
		}
		copy(d, k.st.p[r*v:(r+1)*v])
		d[t]--
		blas.Scale(g, d)
	})
}

// ceBwd: dlogits = dy/n·(softmax(row) − onehot(target)); ignored rows get 0.
func ceBwd[F float](dx, x []F, targets []int, v, ignore int, dy float64) {
	n := 0
	for _, t := range targets {
		if t != ignore {
			n++
		}
	}
	clear(dx)
	if n == 0 {
		return
	}
	g := dy / float64(n)
	for r, t := range targets {
		if t == ignore {
			continue
		}
		row := x[r*v : (r+1)*v]
		lse := logSumExp(row)
		for j, xv := range row {
			p := math.Exp(float64(xv) - lse)
			if j == t {
				p--
			}
			dx[r*v+j] = F(g * p)
		}
	}
}
