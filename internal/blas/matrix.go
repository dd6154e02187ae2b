package blas

import "fmt"

// PackedMatrix is a Linear weight W [Out, In] (row-major float32) packed
// once into the sgemm panel layout of one level, for Y = X·Wᵀ. It keeps a
// reference to the caller's row-major W as well (no copy): the small-m
// decode path streams W's rows, which beats reading the panels through
// the compute-bound register-tile kernel. It implements
// backend.PreparedMatrix and is immutable and safe for concurrent use;
// W must not be modified afterwards.
type PackedMatrix struct {
	out, in int
	w       []float32 // W [Out, In] row-major, the caller's slice (not copied)
	pb      *PackedB  // op(B) = Wᵀ [In×Out]
}

// NewPackedMatrix packs W [out, in] for the default kernels.
func NewPackedMatrix(w []float32, out, in int) (*PackedMatrix, error) {
	return defaultImpl.NewPackedMatrix(w, out, in)
}

// NewPackedMatrix packs W [out, in] (row-major, len(w) == out·in) into
// im's panel layout. W is retained by reference and must not change.
func (im *Impl) NewPackedMatrix(w []float32, out, in int) (*PackedMatrix, error) {
	if out < 0 || in < 0 {
		return nil, fmt.Errorf("blas: packed matrix has negative shape [%d %d]", out, in)
	}
	if len(w) != out*in {
		return nil, fmt.Errorf("blas: packed matrix [%d %d] needs %d floats, got %d", out, in, out*in, len(w))
	}
	return &PackedMatrix{out: out, in: in, w: w, pb: im.PackB(true, in, out, w, max(in, 1))}, nil
}

// Dims returns (Out, In).
func (pm *PackedMatrix) Dims() (out, in int) { return pm.out, pm.in }

// Level reports the kernel level the panels were packed for.
func (pm *PackedMatrix) Level() Level { return pm.pb.im.level }

// MatMulT computes y [m, Out] = x [m, In]·Wᵀ, overwriting y. Up to SmallM
// rows take the streaming decode path, more the blocked SgemmPacked. It
// panics when a slice is too short for the shapes (a programmer error).
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
	if m <= SmallM {
		pm.pb.im.GemvT(y, x, pm.w, m, pm.out, pm.in)
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
