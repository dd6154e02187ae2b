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

// Sgemm is the entry point layer code calls: C = alpha·op(A)·op(B) +
// beta·C (conventions of SgemmRef) on the packed, blocked, multi-threaded
// kernels of Default().
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	defaultImpl.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemvRef is the reference twin of Sgemv: y = alpha·op(A)·x + beta·y for
// row-major A of m×n (stride lda); beta == 0 does not read y.
func SgemvRef(trans bool, m, n int, alpha float32, a []float32, lda int, x []float32, beta float32, y []float32) {
	rows, cols := m, n
	if trans {
		rows, cols = n, m
	}
	for i := 0; i < rows; i++ {
		var s float32
		for j := 0; j < cols; j++ {
			if trans {
				s += a[j*lda+i] * x[j]
			} else {
				s += a[i*lda+j] * x[j]
			}
		}
		if beta == 0 {
			y[i] = alpha * s
		} else {
			y[i] = alpha*s + beta*y[i]
		}
	}
}

// SdotRef is the reference twin of Sdot: Σ x[i]·y[i] for i < n.
func SdotRef(n int, x, y []float32) float32 {
	var s float32
	for i := 0; i < n; i++ {
		s += x[i] * y[i]
	}
	return s
}

// SaxpyRef is the reference twin of Saxpy: y[i] += alpha·x[i] for i < n.
func SaxpyRef(n int, alpha float32, x, y []float32) {
	for i := 0; i < n; i++ {
		y[i] += alpha * x[i]
	}
}
