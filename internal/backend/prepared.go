package backend

import (
	"fmt"

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
// panel (32 floats on AVX-512) × In floats, about the size of W; the
// row-major tensors stay alive as the table's keys (and for any code that
// reads them), so preparing costs one extra copy of the listed weights.
// A tied embedding listed here serves token lookups through Row.
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
	packed := make([]*blas.PackedMatrix, len(todo))
	errs := make([]error, len(todo))
	parallelItems(len(todo), workers(len(todo), parallelMinWork), func(_, i int) {
		t := todo[i]
		packed[i], errs[i] = blas.NewPackedMatrix(t.Data, t.Shape[0], t.Shape[1])
	})
	out := make(map[*tensor.Tensor]PreparedMatrix, len(todo))
	for i, t := range todo {
		if errs[i] != nil {
			return nil, fmt.Errorf("backend: packing weight %v: %w", t.Shape, errs[i])
		}
		out[t] = packed[i]
	}
	return out, nil
}
