package graph

import (
	"fmt"
	"runtime"
	"slices"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/blas"
	ft "github.com/fovea-ml/fovea/internal/tensor"
)

// ---- products on the project's sgemm, transposes folded into the calls ----

// gemm is C = op(A)·op(B) + beta·C (row-major, leading dimensions as in
// CBLAS): im.Sgemm in float32 (im carries the thread count: the Backend's
// budget, or one thread for products the caller runs side by side),
// gemmRef in float64.
func gemm[F float](im *blas.Impl, transA, transB bool, m, n, k int, a []F, lda int, b []F, ldb int, beta F, c []F, ldc int) {
	if a32, ok := any(a).([]float32); ok {
		im.Sgemm(transA, transB, m, n, k, 1, a32, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
		return
	}
	gemmRef(transA, transB, m, n, k, a, lda, b, ldb, beta, c, ldc)
}

// gemmRef is the plain reference product (sums in float64): the float64
// graph's gemm and the oracle of the float32 one.
func gemmRef[F float](transA, transB bool, m, n, k int, a []F, lda int, b []F, ldb int, beta F, c []F, ldc int) {
	at := func(i, p int) float64 {
		if transA {
			return float64(a[p*lda+i])
		}
		return float64(a[i*lda+p])
	}
	bt := func(p, j int) float64 {
		if transB {
			return float64(b[j*ldb+p])
		}
		return float64(b[p*ldb+j])
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				s += at(i, p) * bt(p, j)
			}
			if beta != 0 {
				s += float64(beta) * float64(c[i*ldc+j])
			}
			c[i*ldc+j] = F(s)
		}
	}
}

// addRows adds v to every len(v)-wide row of y.
func addRows[F float](y, v []F) {
	if y32, ok := any(y).([]float32); ok {
		v32 := any(v).([]float32)
		for r := 0; r+len(v) <= len(y32); r += len(v) {
			blas.Saxpy(len(v), 1, v32, y32[r:r+len(v)])
		}
		return
	}
	for r := 0; r+len(v) <= len(y); r += len(v) {
		row := y[r : r+len(v)]
		for j, x := range v {
			row[j] += x
		}
	}
}

// sumRows writes the sum of the len(dst)-wide rows of x to dst.
func sumRows[F float](dst, x []F) {
	clear(dst)
	if d32, ok := any(dst).([]float32); ok {
		x32 := any(x).([]float32)
		for r := 0; r+len(d32) <= len(x32); r += len(d32) {
			blas.Saxpy(len(d32), 1, x32[r:r+len(d32)], d32)
		}
		return
	}
	for r := 0; r+len(dst) <= len(x); r += len(dst) {
		for j, v := range x[r : r+len(dst)] {
			dst[j] += v
		}
	}
}

// linearK is y = x·wᵀ (+ b) (+ res): inputs x [..., In], w [Out, In], then
// b [Out] when hasBias, then res [..., Out] when hasRes. One sgemm each
// way, transposes folded into the calls:
//
//	forward  y  = x·wᵀ       sgemm(N, T), starting from res and b (beta 1)
//	backward dx = dy·w       sgemm(N, N)
//	         dw = dyᵀ·x      sgemm(T, N)
//	         db = Σ_rows dy, dres = dy
//
// A frozen w (Options.Trainable false) gets no dw node (Backward marks it),
// so a frozen layer costs its forward and its input gradient only.
type linearK struct {
	hasBias, hasRes bool
	st              *frozenPack
	th              *budget
}

// frozenPack holds a frozen weight packed once for sgemm (float32 only):
// wT as op(B) = wᵀ for the forward product, wN as op(B) = w for the input
// gradient. Backward marks the op (frozenAware) when no trainable
// parameter influences the weight: it then stays constant for the life of
// the graph, and packing it per product would be repeated work (a frozen
// decoder in stage-1 training).
type frozenPack struct {
	frozen bool
	wT, wN *blas.PackedB
}

// RefreshFrozen drops the packed copies of frozen weights, so the next
// Run packs them again: call it after changing a frozen (Trainable false)
// weight tensor in place. Trainable weights are read afresh every run.
func (b *Backend) RefreshFrozen() {
	for _, p := range b.packs {
		p.wT, p.wN = nil, nil
	}
	if sh := b.th.shared(); sh != nil { // a replica: the packings all replicas share
		sh.refreshFrozen()
	}
}

// frozenAware is a kernel told by Backward which inputs are frozen.
type frozenAware interface{ setFrozen(frozen []bool) }

func (k linearK) setFrozen(f []bool) { k.st.frozen = f[1] }

// packedT returns the weight w [out, in] packed as op(B) = wᵀ, packing it
// on first use; packedN as op(B) = w.
func (p *frozenPack) packedT(th *budget, w []float32, out, in int) *blas.PackedB {
	if p.wT == nil {
		p.wT = th.blas().PackB(true, in, out, w, in)
	}
	return p.wT
}
func (p *frozenPack) packedN(th *budget, w []float32, out, in int) *blas.PackedB {
	if p.wN == nil {
		p.wN = th.blas().PackB(false, out, in, w, in)
	}
	return p.wN
}

func (k linearK) name() string { return fmt.Sprintf("Linear{bias=%v,res=%v}", k.hasBias, k.hasRes) }
func (k linearK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	x, w := in[0], in[1]
	if len(x) == 0 || len(w) != 2 || w[1] != x[len(x)-1] {
		return nil, fmt.Errorf("x %v, w %v", x, w)
	}
	out := append(x[:len(x)-1].Clone(), w[0])
	i := 2
	if k.hasBias {
		if len(in[i]) != 1 || in[i][0] != w[0] {
			return nil, fmt.Errorf("bias %v for output width %d", in[i], w[0])
		}
		i++
	}
	if k.hasRes && !in[i].Eq(out) {
		return nil, fmt.Errorf("residual %v for output %v", in[i], out)
	}
	return out, nil
}
func (k linearK) diffWRT() []bool { return slices.Repeat([]bool{true}, k.arity()) }
func (k linearK) arity() int {
	n := 2
	if k.hasBias {
		n++
	}
	if k.hasRes {
		n++
	}
	return n
}
func (linearK) overwrites() bool { return true }
func (k linearK) forward(out float64Or32, in []gorgonia.Value) {
	if is64(out) {
		linearFwd(k, buf[float64](out), in)
	} else {
		linearFwd(k, buf[float32](out), in)
	}
}

func linearFwd[F float](k linearK, y []F, in []gorgonia.Value) {
	x, w := data[F](in[0]), data[F](in[1])
	ws := in[1].Shape()
	o, n := ws[0], ws[1]
	m := len(x) / n
	var beta F
	if k.hasRes {
		copy(y, data[F](in[len(in)-1]))
		beta = 1
	}
	if k.hasBias {
		b := data[F](in[2])
		if beta == 0 {
			for r := 0; r < m; r++ {
				copy(y[r*o:(r+1)*o], b)
			}
		} else {
			addRows(y, b)
		}
		beta = 1
	}
	if y32, ok := any(y).([]float32); ok && k.th.sharedFor(k.st.frozen) != nil {
		pb := k.th.shared().packed(k.th.blas(), true, n, o, any(w).([]float32))
		k.th.blas().SgemmPacked(m, 1, any(x).([]float32), n, pb, float32(beta), y32, o)
		return
	}
	if y32, ok := any(y).([]float32); ok && k.st != nil && k.st.frozen {
		k.th.blas().SgemmPacked(m, 1, any(x).([]float32), n, k.st.packedT(k.th, any(w).([]float32), o, n), float32(beta), y32, o)
		return
	}
	gemm(k.th.blas(), false, true, m, o, n, x, n, w, n, beta, y, o) // [M, Out]
}

func (k linearK) backward(i int, dx float64Or32, in []gorgonia.Value, _, dy gorgonia.Value) {
	if is64(dx) {
		linearBwd(k, i, buf[float64](dx), in, data[float64](dy))
	} else {
		linearBwd(k, i, buf[float32](dx), in, data[float32](dy))
	}
}

func linearBwd[F float](k linearK, i int, dx []F, in []gorgonia.Value, dy []F) {
	x, w := data[F](in[0]), data[F](in[1])
	ws := in[1].Shape()
	o, n := ws[0], ws[1]
	m := len(x) / n
	switch {
	case i == 0:
		// Rows of dy that are all zero (positions a loss ignores, e.g. the
		// image tokens of a LLaVA stage-1 step at the LM head) give zero
		// rows of dx: multiply only the runs of non-zero rows.
		forRowRuns(dy, m, o, func(r0, r1 int, nonzero bool) {
			dxr := dx[r0*n : r1*n]
			if !nonzero {
				clear(dxr)
				return
			}
			dyr := dy[r0*o : r1*o]
			if dx32, ok := any(dxr).([]float32); ok && k.th.sharedFor(k.st.frozen) != nil {
				pb := k.th.shared().packed(k.th.blas(), false, o, n, any(w).([]float32))
				k.th.blas().SgemmPacked(r1-r0, 1, any(dyr).([]float32), o, pb, 0, dx32, n)
				return
			}
			if dx32, ok := any(dxr).([]float32); ok && k.st != nil && k.st.frozen {
				k.th.blas().SgemmPacked(r1-r0, 1, any(dyr).([]float32), o, k.st.packedN(k.th, any(w).([]float32), o, n), 0, dx32, n)
				return
			}
			gemm(k.th.blas(), false, false, r1-r0, n, o, dyr, o, w, n, 0, dxr, n) // dx [M, In] = dy·w
		})
	case i == 1:
		gemm(k.th.blas(), true, false, o, n, m, dy, o, x, n, 0, dx, n) // dw [Out, In] = dyᵀ·x
	case i == 2 && k.hasBias:
		sumRows(dx, dy) // db [Out]
	default:
		copy(dx, dy) // dres
	}
}

// linear builds the Linear node; res may be nil.
func (b *Backend) linear(x, w, bias, res backend.Value) backend.Value {
	xs, ws := b.Shape(x), b.Shape(w)
	if len(xs) == 0 || len(ws) != 2 || ws[1] != xs[len(xs)-1] {
		panic(fmt.Sprintf("graph.Linear: x %v, w %v", xs, ws))
	}
	out := ws[0]
	k := linearK{hasBias: bias != nil, hasRes: res != nil, st: &frozenPack{}, th: b.th}
	b.packs = append(b.packs, k.st)
	inputs := []*gorgonia.Node{b.Node(x), b.Node(w)}
	if bias != nil {
		if bs := b.Shape(bias); ft.Numel(bs) != out {
			panic(fmt.Sprintf("graph.Linear: bias %v for output width %d", bs, out))
		}
		inputs = append(inputs, b.Node(b.flat(bias)))
	}
	if res != nil {
		want := append(slices.Clone(xs[:len(xs)-1]), out)
		if rs := b.Shape(res); !slices.Equal(rs, want) {
			panic(fmt.Sprintf("graph.LinearAdd: residual %v for output %v", rs, want))
		}
		inputs = append(inputs, b.Node(res))
	}
	return apply(k, b.dt, inputs...)
}

// ---- batched matmul: a [batch, M, K] · b [batch, K, N] (or [batch, N, K]) ----

// matmulK multiplies matching batches; transB reads b as [batch, N, K].
// Both gradients are sgemm calls with transposed operands:
//
//	da = dy·op(b)ᵀ,  db = aᵀ·dy (or dyᵀ·a when transB).
//
// The batch items run in parallel, one thread each.
type matmulK struct {
	transB bool
	th     *budget
}

func (k matmulK) name() string { return fmt.Sprintf("MatMul{transB=%v}", k.transB) }
func (k matmulK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	a, b := in[0], in[1]
	nd := len(a)
	if nd < 2 || len(b) != nd || !a[:nd-2].Eq(b[:nd-2]) {
		return nil, fmt.Errorf("a %v, b %v", a, b)
	}
	kb, n := b[nd-2], b[nd-1]
	if k.transB {
		kb, n = n, kb
	}
	if kb != a[nd-1] {
		return nil, fmt.Errorf("a %v, b %v (transB=%v)", a, b, k.transB)
	}
	return append(a[:nd-1].Clone(), n), nil
}
func (matmulK) diffWRT() []bool  { return []bool{true, true} }
func (matmulK) overwrites() bool { return true }

// dims returns batch, M, K, N of a product.
func (k matmulK) dims(a, b tensor.Shape) (batch, m, kk, n int) {
	nd := len(a)
	m, kk = a[nd-2], a[nd-1]
	n = b[nd-1]
	if k.transB {
		n = b[nd-2]
	}
	return a[:nd-2].TotalSize(), m, kk, n
}

func (k matmulK) forward(out float64Or32, in []gorgonia.Value) {
	if is64(out) {
		matmulRun(k, -1, buf[float64](out), in, nil)
	} else {
		matmulRun(k, -1, buf[float32](out), in, nil)
	}
}
func (k matmulK) backward(i int, dx float64Or32, in []gorgonia.Value, _, dy gorgonia.Value) {
	if is64(dx) {
		matmulRun(k, i, buf[float64](dx), in, data[float64](dy))
	} else {
		matmulRun(k, i, buf[float32](dx), in, data[float32](dy))
	}
}

// matmulRun computes the product (which < 0) or the gradient of input
// which, one batch item per parallel task.
func matmulRun[F float](k matmulK, which int, dst []F, in []gorgonia.Value, dy []F) {
	a, b := data[F](in[0]), data[F](in[1])
	batch, m, kk, n := k.dims(in[0].Shape(), in[1].Shape())
	one := k.th.single()
	blas.ParallelItems(batch, k.th.workers(batch), func(_, t int) {
		at, bt := a[t*m*kk:(t+1)*m*kk], b[t*kk*n:(t+1)*kk*n]
		switch which {
		case -1:
			ldb := n
			if k.transB {
				ldb = kk
			}
			gemm(one, false, k.transB, m, n, kk, at, kk, bt, ldb, 0, dst[t*m*n:(t+1)*m*n], n)
		case 0: // da [M, K] = dy·op(b)ᵀ
			d := dy[t*m*n : (t+1)*m*n]
			if k.transB {
				gemm(one, false, false, m, kk, n, d, n, bt, kk, 0, dst[t*m*kk:(t+1)*m*kk], kk)
			} else {
				gemm(one, false, true, m, kk, n, d, n, bt, n, 0, dst[t*m*kk:(t+1)*m*kk], kk)
			}
		default:
			d := dy[t*m*n : (t+1)*m*n]
			if k.transB { // db [N, K] = dyᵀ·a
				gemm(one, true, false, n, kk, m, d, n, at, kk, 0, dst[t*kk*n:(t+1)*kk*n], kk)
			} else { // db [K, N] = aᵀ·dy
				gemm(one, true, false, kk, n, m, at, kk, d, n, 0, dst[t*kk*n:(t+1)*kk*n], n)
			}
		}
	})
}

// workers is the number of parallel tasks for n independent items of
// the optimizer (AdamW, GradNorm), which belongs to no Backend.
func workers(n int) int { return max(1, min(n, runtime.GOMAXPROCS(0))) }

// forRowRuns splits the m rows of width w of a into maximal runs of rows
// that are all zero and rows that are not, calling f(r0, r1, nonzero) for
// each run in order. A row is checked up to its first non-zero element,
// so a dense matrix costs one read per row and comes back as one run.
func forRowRuns[F float](a []F, m, w int, f func(r0, r1 int, nonzero bool)) {
	r0, cur := 0, false
	for r := 0; r < m; r++ {
		nz := false
		for _, v := range a[r*w : (r+1)*w] {
			if v != 0 {
				nz = true
				break
			}
		}
		if r == 0 {
			cur = nz
		} else if nz != cur {
			f(r0, r, cur)
			r0, cur = r, nz
		}
	}
	if m > 0 {
		f(r0, m, cur)
	}
}
