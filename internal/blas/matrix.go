package blas

import "fmt"

// PackedMatrix is a Linear weight W [Out, In] (row-major float32) packed
// once into the sgemm panel layout of one level, for Y = X·Wᵀ. The panels
// serve every product: the blocked sgemm for many rows, the panel gemv
// (one sequential stream over the panels) for decode-sized inputs, and
// Row for embedding lookups, so the caller's row-major W is not
// retained. It implements backend.PreparedMatrix and is immutable and
// safe for concurrent use.
type PackedMatrix struct {
	out, in int
	pb      *PackedB // op(B) = Wᵀ [In×Out]
}

// NewPackedMatrix packs W [out, in] for the default kernels.
func NewPackedMatrix(w []float32, out, in int) (*PackedMatrix, error) {
	return defaultImpl.NewPackedMatrix(w, out, in)
}

// NewPackedMatrixInto packs W [out, in] into buf for the default kernels.
func NewPackedMatrixInto(buf, w []float32, out, in int) (*PackedMatrix, error) {
	return defaultImpl.NewPackedMatrixInto(buf, w, out, in)
}

// PackedLen is the buffer size (float32s) of an [out, in] PackedMatrix
// on the default kernels.
func PackedLen(out, in int) int { return defaultImpl.PackedLen(in, out) }

// NewPackedMatrix packs W [out, in] (row-major, len(w) == out·in) into
// im's panel layout (a copy: W may change or be released afterwards).
func (im *Impl) NewPackedMatrix(w []float32, out, in int) (*PackedMatrix, error) {
	return im.NewPackedMatrixInto(nil, w, out, in)
}

// NewPackedMatrixInto is NewPackedMatrix with the panels written to buf
// (len ≥ PackedLen(in, out); nil allocates).
func (im *Impl) NewPackedMatrixInto(buf, w []float32, out, in int) (*PackedMatrix, error) {
	if out < 0 || in < 0 {
		return nil, fmt.Errorf("blas: packed matrix has negative shape [%d %d]", out, in)
	}
	if len(w) != out*in {
		return nil, fmt.Errorf("blas: packed matrix [%d %d] needs %d floats, got %d", out, in, out*in, len(w))
	}
	if buf != nil && len(buf) < im.PackedLen(in, out) {
		return nil, fmt.Errorf("blas: packed matrix [%d %d] needs a buffer of %d floats, got %d", out, in, im.PackedLen(in, out), len(buf))
	}
	return &PackedMatrix{out: out, in: in, pb: im.PackBInto(buf, true, in, out, w, max(in, 1))}, nil
}

// Dims returns (Out, In).
func (pm *PackedMatrix) Dims() (out, in int) { return pm.out, pm.in }

// Level reports the kernel level the panels were packed for.
func (pm *PackedMatrix) Level() Level { return pm.pb.im.level }

// MatMulT computes y [m, Out] = x [m, In]·Wᵀ, overwriting y: the panel
// gemv for up to SmallM rows, the blocked sgemm for more (both inside
// SgemmPacked). It panics when a slice is too short for the shapes (a
// programmer error).
func (pm *PackedMatrix) MatMulT(y, x []float32, m int) {
	if m < 0 || len(x) < m*pm.in || len(y) < m*pm.out {
		panic(fmt.Sprintf("blas.PackedMatrix.MatMulT: W [%d %d], m=%d: x has %d, y has %d", pm.out, pm.in, m, len(x), len(y)))
	}
	if m == 0 || pm.out == 0 {
		return
	}
	if pm.in == 0 {
		clear(y[:m*pm.out])
		return
	}
	pm.pb.im.SgemmPacked(m, 1, x, pm.in, pm.pb, 0, y, pm.out)
}

// Row writes row i of W to dst [In], unpacking it from the panels.
func (pm *PackedMatrix) Row(i int, dst []float32) {
	if i < 0 || i >= pm.out || len(dst) < pm.in {
		panic(fmt.Sprintf("blas.PackedMatrix.Row: row %d of [%d %d] into dst of %d", i, pm.out, pm.in, len(dst)))
	}
	nr := pm.pb.im.gemm.nr
	pan := pm.pb.panel(i/nr, 0, pm.in)
	col := i % nr
	for p := range dst[:pm.in] {
		dst[p] = pan[p*nr+col]
	}
}

// MatMulTGroup computes ys[g] [m, Out_g] = x [m, In]·W_gᵀ for every
// matrix of ms, overwriting ys, in one pass (SgemmPackedGroup): the
// projections of one activation (q/k/v, gate/up). Every matrix must have
// the same In and be packed for the same level. It panics (a programmer
// error) otherwise or when a slice is too short.
func MatMulTGroup(ys [][]float32, x []float32, m int, ms []*PackedMatrix) {
	if len(ys) != len(ms) {
		panic(fmt.Sprintf("blas.MatMulTGroup: %d outputs for %d matrices", len(ys), len(ms)))
	}
	if len(ms) == 0 {
		return
	}
	prods := make([]PackedProduct, len(ms))
	for g, pm := range ms {
		if pm.in != ms[0].in {
			panic(fmt.Sprintf("blas.MatMulTGroup: matrix %d is [%d %d], matrix 0 is [%d %d]", g, pm.out, pm.in, ms[0].out, ms[0].in))
		}
		prods[g] = PackedProduct{B: pm.pb, C: ys[g], Ldc: pm.out}
	}
	if len(x) < m*ms[0].in {
		panic(fmt.Sprintf("blas.MatMulTGroup: x has %d floats for m=%d rows of %d", len(x), m, ms[0].in))
	}
	ms[0].pb.im.SgemmPackedGroup(m, x, max(ms[0].in, 1), prods)
}
