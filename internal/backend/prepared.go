package backend

import (
	"fmt"

	"github.com/fovea-ml/fovea/internal/arena"
	"github.com/fovea-ml/fovea/internal/blas"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// PrepareF32 packs every distinct (by pointer) 2-D tensor of ts, a Linear
// weight W [Out, In], once into blas's sgemm panel layout
// (blas.PackedMatrix), so that Linear never repacks or transposes W
// again; nil entries and tensors that are not 2-D are skipped. The result
// is meant for Eager.Prepared. It stays exact float32: Linear through a
// packed weight computes the same sums as through the row-major one.
//
// Memory: a packed matrix holds Out rounded up to the kernel's column
// panel (32 floats on AVX-512) × In floats, about the size of W. All of
// them are carved, in the order of ts (list them in the order the forward
// pass reads them), from one internal/arena block backed by huge pages
// where the OS allows, so that the decode step streams them as one
// sequence. The panels serve every product and Row (a tied embedding
// listed here serves token lookups), so the row-major tensors are no
// longer read; they stay alive only as the table's keys.
//
// Packing splits the tensors across cores; an error names the shape that
// could not be packed.
func PrepareF32(ts []*tensor.Tensor) (map[*tensor.Tensor]PreparedMatrix, error) {
	var todo []*tensor.Tensor
	seen := make(map[*tensor.Tensor]bool, len(ts))
	for _, t := range ts {
		if t == nil || t.Dims() != 2 || seen[t] {
			continue
		}
		seen[t] = true
		todo = append(todo, t)
	}
	size := 0
	for _, t := range todo {
		size += arena.FloatsSize(blas.PackedLen(t.Shape[0], t.Shape[1]))
	}
	ar := arena.New(size)
	bufs := make([][]float32, len(todo))
	for i, t := range todo {
		bufs[i] = ar.Floats(blas.PackedLen(t.Shape[0], t.Shape[1]))
	}
	packed := make([]*blas.PackedMatrix, len(todo))
	errs := make([]error, len(todo))
	parallelItems(len(todo), workers(len(todo), parallelMinWork), func(_, i int) {
		t := todo[i]
		packed[i], errs[i] = blas.NewPackedMatrixInto(bufs[i], t.Data, t.Shape[0], t.Shape[1])
	})
	out := make(map[*tensor.Tensor]PreparedMatrix, len(todo))
	for i, t := range todo {
		if errs[i] != nil {
			return nil, fmt.Errorf("backend: packing weight %v: %w", t.Shape, errs[i])
		}
		out[t] = packedF32{packed[i]}
	}
	return out, nil
}

// packedF32 is a blas.PackedMatrix in Eager.Prepared; it adds the
// GroupMatMul pass over several of them.
type packedF32 struct{ *blas.PackedMatrix }

var _ GroupMatMul = packedF32{}

// MatMulTGroup multiplies x by every matrix of group in one
// blas.MatMulTGroup pass when all are packedF32 with the same In.
func (p packedF32) MatMulTGroup(ys [][]float32, x []float32, m int, group []PreparedMatrix) bool {
	ms := make([]*blas.PackedMatrix, len(group))
	_, in := p.Dims()
	for g, q := range group {
		pq, ok := q.(packedF32)
		if !ok {
			return false
		}
		if _, qin := pq.Dims(); qin != in || pq.Level() != p.Level() {
			return false
		}
		ms[g] = pq.PackedMatrix
	}
	blas.MatMulTGroup(ys, x, m, ms)
	return true
}
