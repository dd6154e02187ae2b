package blas

import (
	gblas "gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// GorgoniaBLAS plugs Fovea's kernels into gorgonia.org/tensor's engine:
//
//	tensor.Use(blas.GorgoniaBLAS{})
//
// It embeds gonum's pure-Go implementation for every routine and
// overrides Sgemm and Sgemv. gonum's BLAS API is row-major, like Fovea's,
// so arguments pass straight through (gorgonia itself swaps operands when
// a tensor is column-major). Strided vectors (inc ≠ 1) fall back to gonum.
type GorgoniaBLAS struct {
	gonum.Implementation
}

func isTrans(t gblas.Transpose) bool { return t == gblas.Trans || t == gblas.ConjTrans }

// Sgemm computes C = alpha·op(A)·op(B) + beta·C with Fovea's sgemm.
func (GorgoniaBLAS) Sgemm(tA, tB gblas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	Sgemm(isTrans(tA), isTrans(tB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Sgemv computes y = alpha·op(A)·x + beta·y with Fovea's gemv when both
// vectors are contiguous, else with gonum's.
func (g GorgoniaBLAS) Sgemv(tA gblas.Transpose, m, n int, alpha float32, a []float32, lda int, x []float32, incX int, beta float32, y []float32, incY int) {
	if incX != 1 || incY != 1 {
		g.Implementation.Sgemv(tA, m, n, alpha, a, lda, x, incX, beta, y, incY)
		return
	}
	Sgemv(isTrans(tA), m, n, alpha, a, lda, x, beta, y)
}
