package blas

// SgemmRef is the plain reference twin of Sgemm: the test oracle and the
// fallback on CPUs without the vector extensions. Row-major:
//
//	C = alpha·op(A)·op(B) + beta·C
//
// op(A) is m×k (A stored k×m with stride lda when transA), op(B) is k×n (B
// stored n×k with stride ldb when transB), C is m×n with stride ldc.
// When beta == 0, C is overwritten without being read (NaNs in C vanish).
func SgemmRef(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += av * bv
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}

// Sgemm is the entry point layer code calls. Until the optimised kernels
// land it forwards to the reference.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	SgemmRef(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
