package quant

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/blas"
	"github.com/fovea-ml/fovea/internal/tensor"
)

const (
	// BlockSize is the number of weights (along In) that share one scale.
	BlockSize = 32
	// q8Max is the largest magnitude of a quantized value: a block's
	// scale is max|w| / q8Max, so every value lies in [-127, 127].
	q8Max = 127
	// q8Offset turns a signed weight q ∈ [-127, 127] into the stored
	// unsigned byte q + q8Offset ∈ [1, 255] (the u8 operand of VPDPBUSD).
	q8Offset = 128
	// lanesPerBlock is the number of int32 lanes one block's partial sums
	// occupy in the vector kernels (32 bytes / 4 bytes per lane).
	lanesPerBlock = BlockSize / 4
	// padBytes and padScales extend the weight and scale slices so a
	// kernel may read one whole block pair (64 bytes, 16 scales) past the
	// last row; the extra values only ever meet zero activations.
	padBytes  = 2 * BlockSize
	padScales = 16
	// rowTile is the number of weight rows a worker streams per activation
	// row before moving to the next one (m > 1 keeps the tile in cache).
	rowTile = 32
	// minParallelBytes is the size of the weights (Out·In bytes) a
	// decode-sized product must stream per goroutine: below it one more
	// goroutine does not pay. blas.Parallel hands work to helpers that
	// are already running (~1 µs), so the bar is low; with a goroutine
	// started per call it was 2 MB (1536×576 tied).
	minParallelBytes = 128 << 10
	// maxInt8M is the largest m that MatMulT multiplies in int8 (each
	// weight tile against every activation row); above it the dequantized
	// panels go through sgemm (matMulTPanels).
	maxInt8M = blas.SmallM
	// panelFloats is the target size of a dequantized weight panel (4 MiB
	// of float32: every SmolLM2 layer matrix in one panel, so sgemm packs
	// the activations once; 1 MiB panels measured ~10% slower),
	// minPanelRows its least row count.
	panelFloats  = 1 << 20
	minPanelRows = 64
	// minParallelDequant is the number of values (weights of a panel, or
	// activations to round) below which they are converted on the calling
	// goroutine.
	minParallelDequant = 1 << 16
	// half is the rounding offset of quantizeBlock.
	half = 0.5
	// signBit is the sign bit of a float32.
	signBit = 1 << 31
)

// Q8Matrix is a weight matrix W [Out, In] in Q8_0 form: each row is cut
// into In/32 blocks of 32 weights; block b of row r keeps one float32
// scale d[r, b] = max|w| / 127 and 32 int8 values q = round(w / d), so
// w ≈ q·d. It implements backend.PreparedMatrix.
//
// Storage: qs [Out, In] bytes holding q + 128 (offset binary, see doc.go),
// d [Out, In/32] float32 scales; both are padded at the end for the
// vector kernels. A Q8Matrix is immutable and safe for concurrent use.
type Q8Matrix struct {
	out, in, nb int
	qs          []uint8   // [Out, In] (+padBytes)
	d           []float32 // [Out, nb] (+padScales)
	scr         *scratch  // reusable buffers, possibly shared with other matrices
}

// scratch holds the reusable per-call buffers of MatMulT: quantized
// activations and float32 weight panels. Matrices of one QuantizeModel
// call share one scratch; sync.Pool makes it safe for concurrent use.
type scratch struct {
	acts   sync.Pool // *acts
	panels sync.Pool // *[]float32
}

var _ backend.PreparedMatrix = (*Q8Matrix)(nil)

// QuantizeQ8_0 compresses w [Out, In] into Q8_0 blocks. In must be a
// positive multiple of BlockSize and every weight must be finite.
func QuantizeQ8_0(w *tensor.Tensor) (*Q8Matrix, error) {
	if err := checkQuantizable(w); err != nil {
		return nil, err
	}
	out, in := w.Shape[0], w.Shape[1]
	q := &Q8Matrix{
		out: out, in: in, nb: in / BlockSize,
		qs:  make([]uint8, qsLen(out, in)),
		d:   make([]float32, scalesLen(out, in)),
		scr: &scratch{},
	}
	return q, q.quantize(w.Data)
}

// qsLen and scalesLen are the padded storage sizes of an [out, in] matrix.
func qsLen(out, in int) int     { return out*in + padBytes }
func scalesLen(out, in int) int { return out*(in/BlockSize) + padScales }

// checkQuantizable reports why w cannot be stored as Q8_0 (nil when it can).
func checkQuantizable(w *tensor.Tensor) error {
	if w == nil {
		return fmt.Errorf("quant: nil weight")
	}
	if w.Dims() != 2 || w.Shape[0] < 1 || w.Shape[1] < 1 {
		return fmt.Errorf("quant: Q8_0 needs a non-empty 2-D weight [Out, In], got %v", w.Shape)
	}
	if w.Shape[1]%BlockSize != 0 {
		return fmt.Errorf("quant: Q8_0 needs In a multiple of %d, got weight %v", BlockSize, w.Shape)
	}
	if len(w.Data) != w.Shape[0]*w.Shape[1] {
		return fmt.Errorf("quant: weight %v holds %d values, want %d", w.Shape, len(w.Data), w.Shape[0]*w.Shape[1])
	}
	return nil
}

// quantize fills q.qs and q.d from the row-major weights w [Out, In].
func (q *Q8Matrix) quantize(w []float32) error {
	var blk [BlockSize]int8
	for r := 0; r < q.out; r++ {
		for b := 0; b < q.nb; b++ {
			off := r*q.in + b*BlockSize
			src := w[off : off+BlockSize]
			for j, v := range src {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return fmt.Errorf("quant: weight [%d, %d] is %v (not finite)", r, b*BlockSize+j, v)
				}
			}
			q.d[r*q.nb+b] = quantizeBlock(blk[:], src)
			for j, v := range blk {
				q.qs[off+j] = uint8(int(v) + q8Offset)
			}
		}
	}
	return nil
}

// quantizeBlock writes round(src / d) to dst and returns the scale
// d = max|src| / 127 (0 for an all-zero block, which then quantizes to 0).
// Rounding is half away from zero, as llama.cpp's roundf; the +½ is added
// in float64, where it is exact.
func quantizeBlock(dst []int8, src []float32) float32 {
	var amax float32
	for _, v := range src {
		// |v| by clearing the sign bit: plain compares, no NaN handling
		// (the builtin max is several times slower here).
		if a := math.Float32frombits(math.Float32bits(v) &^ signBit); a > amax {
			amax = a
		}
	}
	d := amax / q8Max
	if d == 0 {
		clear(dst[:len(src)])
		return 0
	}
	id := 1 / d
	dst = dst[:len(src)]
	for j, v := range src {
		// Branch-free: the sign of v is random, a branch mispredicts.
		r := float64(v * id)
		dst[j] = int8(max(-q8Max, min(q8Max, int32(r+math.Copysign(half, r)))))
	}
	return d
}

// Dims returns (Out, In).
func (q *Q8Matrix) Dims() (out, in int) { return q.out, q.in }

// Bytes is the size of the compressed weights and scales.
func (q *Q8Matrix) Bytes() int { return q.out*q.in + 4*q.out*q.nb }

// Row writes row i of W, dequantized (q·d), to dst [In].
func (q *Q8Matrix) Row(i int, dst []float32) {
	if i < 0 || i >= q.out || len(dst) < q.in {
		panic(fmt.Sprintf("quant.Q8Matrix.Row: row %d of [%d %d] into dst of %d", i, q.out, q.in, len(dst)))
	}
	for b := 0; b < q.nb; b++ {
		d := q.d[i*q.nb+b]
		src := q.qs[i*q.in+b*BlockSize : i*q.in+(b+1)*BlockSize]
		out := dst[b*BlockSize : (b+1)*BlockSize]
		for j, v := range src {
			out[j] = float32(int(v)-q8Offset) * d
		}
	}
}

// Dequantize returns W as a float32 tensor [Out, In].
func (q *Q8Matrix) Dequantize() *tensor.Tensor {
	t := tensor.New(q.out, q.in)
	for i := 0; i < q.out; i++ {
		q.Row(i, t.Data[i*q.in:(i+1)*q.in])
	}
	return t
}

func (q *Q8Matrix) checkMatMul(name string, y, x []float32, m int) {
	if m < 0 || len(x) < m*q.in || len(y) < m*q.out {
		panic(fmt.Sprintf("quant.Q8Matrix.%s: W [%d %d], m=%d: x has %d (need %d), y has %d (need %d)",
			name, q.out, q.in, m, len(x), m*q.in, len(y), m*q.out))
	}
}

// MatMulT computes y [m, Out] = x [m, In] · Wᵀ, overwriting y. Each
// activation row is quantized to Q8_0 on the fly and, for m ≤ blas.SmallM,
// multiplied block by block in int8; larger m go through dequantized
// float32 panels and sgemm (see doc.go for the kernels and the threading).
func (q *Q8Matrix) MatMulT(y, x []float32, m int) { q.matMulT(defaultKernel, y, x, m) }

func (q *Q8Matrix) matMulT(k *kernel, y, x []float32, m int) {
	q.checkMatMul("MatMulT", y, x, m)
	q.matMulTGroup(k, [][]float32{y}, x, m, []*Q8Matrix{q})
}

// MatMulTGroup computes ys[g] = x [m, In]·W_gᵀ for every matrix of
// group (group[0] is q) in one pass: the activations are quantized once
// and, for decode-sized m, the weight rows of all matrices are split as
// one sequence across goroutines. It reports false, computing nothing,
// when a member is not a *Q8Matrix of q's In (backend.GroupMatMul).
func (q *Q8Matrix) MatMulTGroup(ys [][]float32, x []float32, m int, group []backend.PreparedMatrix) bool {
	ms := make([]*Q8Matrix, len(group))
	for g, p := range group {
		qm, ok := p.(*Q8Matrix)
		if !ok || qm.in != q.in {
			return false
		}
		ms[g] = qm
	}
	if len(ys) != len(ms) {
		panic(fmt.Sprintf("quant.Q8Matrix.MatMulTGroup: %d outputs for %d matrices", len(ys), len(ms)))
	}
	for g, qm := range ms {
		qm.checkMatMul("MatMulTGroup", ys[g], x, m)
	}
	q.matMulTGroup(defaultKernel, ys, x, m, ms)
	return true
}

func (q *Q8Matrix) matMulTGroup(k *kernel, ys [][]float32, x []float32, m int, ms []*Q8Matrix) {
	if m == 0 {
		return
	}
	if m > maxInt8M {
		for g, qm := range ms {
			qm.matMulTPanels(k, ys[g], x, m)
		}
		return
	}
	a := q.getActs(m)
	defer q.scr.acts.Put(a)
	for i := 0; i < m; i++ {
		k.quant(x[i*q.in:(i+1)*q.in], a, i)
	}
	bytes, tiles := 0, 0
	for _, qm := range ms {
		bytes += qm.out * qm.in
		tiles += (qm.out + rowTile - 1) / rowTile
	}
	workers := min(runtime.GOMAXPROCS(0), max(1, bytes/minParallelBytes), tiles)
	blas.Parallel(workers, func(w int) {
		tlo, thi := tiles*w/workers, tiles*(w+1)/workers
		base := 0 // first global tile of matrix g
		for g, qm := range ms {
			nt := (qm.out + rowTile - 1) / rowTile
			lo, hi := max(tlo, base)-base, min(thi, base+nt)-base
			base += nt
			if lo >= hi {
				continue
			}
			qm.rowsTiles(k, a, m, lo*rowTile, min(qm.out, hi*rowTile), ys[g])
		}
	})
}

// rowsTiles computes output rows [lo, hi) of y [m, Out] from the
// quantized activations a: in one kernel call for m = 1, else tile by tile
// against every activation row (the tile stays in cache).
func (q *Q8Matrix) rowsTiles(k *kernel, a *acts, m, lo, hi int, y []float32) {
	if m == 1 {
		k.rows(q, lo, hi, a, 0, y)
		return
	}
	for r0 := lo; r0 < hi; r0 += rowTile {
		r1 := min(r0+rowTile, hi)
		for i := 0; i < m; i++ {
			k.rows(q, r0, r1, a, i, y[i*q.out:(i+1)*q.out])
		}
	}
}

// matMulTPanels is the prefill form (m > maxInt8M). The activations are
// rounded to their Q8_0 values q·d (fakeQuant: the same numbers the int8
// kernels multiply, so prefill and decode agree), and weight rows are
// dequantized, panelRows(in) at a time, into a float32 panel [rows, In]
// that blas.Sgemm multiplies with all m activation rows, writing the
// panel's columns of y [m, Out] (ldc = Out). The panel stays in cache, so
// the weights are read from memory once, as Q8.
func (q *Q8Matrix) matMulTPanels(k *kernel, y, x []float32, m int) {
	xp := q.getPanel(m * q.in)
	defer q.scr.panels.Put(xp)
	xr := *xp // [m, In]
	workers := min(runtime.GOMAXPROCS(0), max(1, m*q.in/minParallelDequant))
	blas.Parallel(workers, func(w int) {
		lo, hi := m*w/workers*q.in, m*(w+1)/workers*q.in
		k.fakeQuant(xr[lo:hi], x[lo:hi])
	})
	rows := min(q.out, panelRows(q.in))
	pp := q.getPanel(rows * q.in)
	defer q.scr.panels.Put(pp)
	panel := *pp // [rows, In]
	for r0 := 0; r0 < q.out; r0 += rows {
		n := min(rows, q.out-r0)
		q.dequantParallel(k, r0, r0+n, panel[:n*q.in])
		blas.Sgemm(false, true, m, n, q.in, 1, xr, q.in, panel, q.in, 0, y[r0:], q.out)
	}
}

// fakeQuantGo writes q·d for the Q8_0 blocks (q, d) of x to dst.
func fakeQuantGo(dst, x []float32) {
	var blk [BlockSize]int8
	for b := 0; b+BlockSize <= len(x); b += BlockSize {
		d := quantizeBlock(blk[:], x[b:b+BlockSize])
		for j, v := range blk {
			dst[b+j] = float32(v) * d
		}
	}
}

// dequantParallel expands weight rows [r0, r1) into dst [r1−r0, In],
// split over runtime.GOMAXPROCS(0) goroutines when large enough.
func (q *Q8Matrix) dequantParallel(k *kernel, r0, r1 int, dst []float32) {
	n := r1 - r0
	workers := min(runtime.GOMAXPROCS(0), max(1, n*q.in/minParallelDequant))
	blas.Parallel(workers, func(w int) {
		lo, hi := r0+n*w/workers, r0+n*(w+1)/workers
		if lo < hi {
			k.dequant(q, lo, hi, dst[(lo-r0)*q.in:(hi-r0)*q.in])
		}
	})
}

// panelRows is the number of weight rows per dequantized panel: about
// panelFloats values, at least minPanelRows rows.
func panelRows(in int) int { return max(minPanelRows, panelFloats/in) }

func (q *Q8Matrix) getPanel(n int) *[]float32 {
	if p, ok := q.scr.panels.Get().(*[]float32); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	p := make([]float32, n)
	return &p
}

// dequantGo writes rows [r0, r1) of W, dequantized, to dst [r1−r0, In].
func dequantGo(q *Q8Matrix, r0, r1 int, dst []float32) {
	for r := r0; r < r1; r++ {
		q.Row(r, dst[(r-r0)*q.in:(r-r0+1)*q.in])
	}
}

// MatMulTRef is the plain-Go reference twin of MatMulT (the test oracle):
// the same activation quantization, exact int32 block dot products, and a
// float64 sum of the scaled blocks.
func (q *Q8Matrix) MatMulTRef(y, x []float32, m int) {
	q.checkMatMul("MatMulTRef", y, x, m)
	var xq [BlockSize]int8
	for i := 0; i < m; i++ {
		xr := x[i*q.in : (i+1)*q.in]
		xd := make([]float32, q.nb)
		xqs := make([]int8, q.in)
		for b := 0; b < q.nb; b++ {
			xd[b] = quantizeBlock(xq[:], xr[b*BlockSize:(b+1)*BlockSize])
			copy(xqs[b*BlockSize:], xq[:])
		}
		for r := 0; r < q.out; r++ {
			var s float64
			for b := 0; b < q.nb; b++ {
				var dot int32
				for j := 0; j < BlockSize; j++ {
					wq := int32(q.qs[r*q.in+b*BlockSize+j]) - q8Offset
					dot += wq * int32(xqs[b*BlockSize+j])
				}
				s += float64(q.d[r*q.nb+b]) * float64(xd[b]) * float64(dot)
			}
			y[i*q.out+r] = float32(s)
		}
	}
}

// acts is a batch of activation rows quantized for the kernels. Blocks
// are padded to an even count (pairs for the 512-bit kernel); padding has
// zero values, zero scale and zero correction. Buffers are reused through
// scratch.acts, so every field is rewritten for each call.
type acts struct {
	in, nb, nbPad int
	xq            []int8    // [m, nbPad·32] quantized values
	xabs          []uint8   // [m, nbPad·32] |xq| (the AVX2 kernel's unsigned operand)
	xd            []float32 // [m, nb] block scales (+padScales: the AVX2 kernel reads 16 at a time)
	xdx           []float32 // [m, nbPad·8] block scale repeated per int32 lane
	negc          []int32   // [m, nbPad·8] offset correction per int32 lane (see quantRowGo)
}

// getActs returns a buffer for m activation rows of width q.in, its
// padding block (odd nb) zeroed.
func (q *Q8Matrix) getActs(m int) *acts {
	nb := q.nb
	nbPad := nb + nb%2
	a, ok := q.scr.acts.Get().(*acts)
	if !ok {
		a = &acts{}
	}
	a.in, a.nb, a.nbPad = q.in, nb, nbPad
	a.xq = grow(a.xq, m*nbPad*BlockSize)
	a.xabs = grow(a.xabs, m*nbPad*BlockSize)
	a.xd = grow(a.xd, m*nb+padScales)
	a.xdx = grow(a.xdx, m*nbPad*lanesPerBlock)
	a.negc = grow(a.negc, m*nbPad*lanesPerBlock)
	if nbPad != nb {
		for i := 0; i < m; i++ {
			clear(a.xq[(i*nbPad+nb)*BlockSize : (i+1)*nbPad*BlockSize])
			clear(a.xabs[(i*nbPad+nb)*BlockSize : (i+1)*nbPad*BlockSize])
			clear(a.xdx[(i*nbPad+nb)*lanesPerBlock : (i+1)*nbPad*lanesPerBlock])
			clear(a.negc[(i*nbPad+nb)*lanesPerBlock : (i+1)*nbPad*lanesPerBlock])
		}
	}
	return a
}

// grow returns s resliced to n, reallocated when its capacity is short.
func grow[E any](s []E, n int) []E {
	if cap(s) < n {
		return make([]E, n)
	}
	return s[:n]
}

// quantRowGo quantizes x [In] into activation row i of a: per block the
// values and scale of quantizeBlock, their magnitudes (xabs), the scale
// repeated per int32 lane (xdx), and per lane l the correction −128·Σ of the four bytes
// xq[4l..4l+3] that lane meets in VPDPBUSD (negc), so that the lanes of a
// block start at −128·Σxq in all and end at Σ q·xq for offset weights.
func quantRowGo(x []float32, a *acts, i int) {
	for b := 0; b < a.nb; b++ {
		blk := (i*a.nbPad + b)
		dst := a.xq[blk*BlockSize : (blk+1)*BlockSize]
		d := quantizeBlock(dst, x[b*BlockSize:(b+1)*BlockSize])
		a.xd[i*a.nb+b] = d
		for j, v := range dst {
			a.xabs[blk*BlockSize+j] = uint8(max(v, -v)) // |v| ≤ 127
		}
		for l := 0; l < lanesPerBlock; l++ {
			c := int32(dst[4*l]) + int32(dst[4*l+1]) + int32(dst[4*l+2]) + int32(dst[4*l+3])
			a.xdx[blk*lanesPerBlock+l] = d
			a.negc[blk*lanesPerBlock+l] = -q8Offset * c
		}
	}
}

// row returns the views of activation row i.
func (a *acts) row(i int) (xq []int8, xd, xdx []float32, negc []int32) {
	return a.xq[i*a.nbPad*BlockSize : (i+1)*a.nbPad*BlockSize],
		a.xd[i*a.nb : (i+1)*a.nb],
		a.xdx[i*a.nbPad*lanesPerBlock : (i+1)*a.nbPad*lanesPerBlock],
		a.negc[i*a.nbPad*lanesPerBlock : (i+1)*a.nbPad*lanesPerBlock]
}

// rowsGo is the portable kernel: y[r] = Σ_b d[r,b]·xd[b]·(q[r,b]·xq[b])
// for rows r in [r0, r1), y indexed by r.
func rowsGo(q *Q8Matrix, r0, r1 int, a *acts, i int, y []float32) {
	xq, xd, _, _ := a.row(i)
	for r := r0; r < r1; r++ {
		w := q.qs[r*q.in : (r+1)*q.in]
		ds := q.d[r*q.nb : (r+1)*q.nb]
		var s float32
		for b, d := range ds {
			wb := w[b*BlockSize : (b+1)*BlockSize : (b+1)*BlockSize]
			xb := xq[b*BlockSize : (b+1)*BlockSize : (b+1)*BlockSize]
			var dot int32
			for j := range wb {
				dot += (int32(wb[j]) - q8Offset) * int32(xb[j])
			}
			s += d * xd[b] * float32(dot)
		}
		y[r] = s
	}
}
