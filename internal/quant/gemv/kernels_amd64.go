//go:build amd64 && !purego

package gemv

import (
	"fmt"

	"golang.org/x/sys/cpu"
)

// avx512Lanes is the float32 width of a zmm register: dotRowsAVX512
// handles rows whose length is a multiple of it.
const avx512Lanes = 16

// Implemented in kernels_amd64.s.
//
//go:noescape
func dotRowsAVX512(rows, n int, w *float32, ldw int, x *float32, y *float32)

// hasAVX512 is fixed at start-up from the CPU.
var hasAVX512 = cpu.X86.HasAVX512F

// dotRows computes y[r] = W[r,:]·x for the rows of w (row-major, stride
// ldw = n) and reports whether it could (AVX-512 and n % 16 == 0).
func dotRows(y, x, w []float32, rows, n int) bool {
	if !hasAVX512 || n%avx512Lanes != 0 || rows == 0 || n == 0 {
		return false
	}
	if len(w) < rows*n || len(x) < n || len(y) < rows {
		panic(fmt.Sprintf("gemv: dotRows %d×%d with w %d, x %d, y %d", rows, n, len(w), len(x), len(y)))
	}
	dotRowsAVX512(rows, n, &w[0], n, &x[0], &y[0])
	return true
}
