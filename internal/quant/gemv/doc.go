// Package gemv is the float32 small-m matrix product of the decode path:
// y [m, Out] = x [m, In] · Wᵀ for m ≤ MaxM activation rows, W [Out, In]
// row-major. backend.Eager.Linear calls MatMulT for such m instead of the
// packed sgemm, whose packing copy of W costs more than the product when
// m is small.
//
// Weight rows are split into contiguous ranges of whole 16-row tiles, one
// per goroutine (runtime.GOMAXPROCS(0) of them when m·Out·In ≥ 2^17, the
// caller running the last). Each goroutine multiplies a tile with every
// activation row through internal/blas's single-threaded Sgemv (AVX2 dot
// kernels) before moving on, so each weight row is read from memory once.
// MatMulTRef (float64 loops) is the test oracle. Shapes that do not fit
// the slices panic, naming them (programmer errors).
//
// Parallel is the fork-join helper shared with package quant.
package gemv
