package blas

import (
	"fmt"
	"sync"
)

// minGemvThreadElems is the matrix size (elements of A) below which Sgemv
// stays on one goroutine.
const minGemvThreadElems = 1 << 16

// gemvRows is how many rows of A the no-transpose gemv kernel reads per
// pass over x.
const gemvRows = 4

// Sdot returns Σ x[i]·y[i] for i < n using the default kernels.
func Sdot(n int, x, y []float32) float32 { return defaultImpl.Sdot(n, x, y) }

// Saxpy computes y[i] += alpha·x[i] for i < n using the default kernels.
func Saxpy(n int, alpha float32, x, y []float32) { defaultImpl.Saxpy(n, alpha, x, y) }

// Sgemv computes y = alpha·op(A)·x + beta·y with the default kernels; see
// Impl.Sgemv.
func Sgemv(trans bool, m, n int, alpha float32, a []float32, lda int, x []float32, beta float32, y []float32) {
	defaultImpl.Sgemv(trans, m, n, alpha, a, lda, x, beta, y)
}

// Sdot returns Σ x[i]·y[i] for i < n.
func (im *Impl) Sdot(n int, x, y []float32) float32 {
	checkVec("Sdot", n, x, y)
	return im.dot(n, x, y)
}

// Saxpy computes y[i] += alpha·x[i] for i < n.
func (im *Impl) Saxpy(n int, alpha float32, x, y []float32) {
	checkVec("Saxpy", n, x, y)
	if alpha == 0 {
		return
	}
	im.axpy(n, alpha, x, y)
}

func checkVec(name string, n int, x, y []float32) {
	if n < 0 || len(x) < n || len(y) < n {
		panic(fmt.Sprintf("blas.%s: n=%d but len(x)=%d len(y)=%d", name, n, len(x), len(y)))
	}
}

// Sgemv computes y = alpha·op(A)·x + beta·y for row-major A of m×n with
// stride lda. Without trans, x has n and y has m elements (the decode hot
// path y = W·x with W [out, in]); with trans, x has m and y has n. beta ==
// 0 overwrites y without reading it.
func (im *Impl) Sgemv(trans bool, m, n int, alpha float32, a []float32, lda int, x []float32, beta float32, y []float32) {
	if m < 0 || n < 0 {
		panic(fmt.Sprintf("blas.Sgemv: negative size m=%d n=%d", m, n))
	}
	checkMat("A", m, n, a, lda)
	xl, yl := n, m
	if trans {
		xl, yl = m, n
	}
	if len(x) < xl || len(y) < yl {
		panic(fmt.Sprintf("blas.Sgemv: A is %d×%d (trans=%v): x needs %d (has %d), y needs %d (has %d)", m, n, trans, xl, len(x), yl, len(y)))
	}
	scaleRows(1, yl, beta, y, yl)
	if alpha == 0 || m == 0 || n == 0 {
		return
	}
	threads := im.threadsFor(m*n, minGemvThreadElems)
	if !trans {
		// Split rows of A (entries of y) across goroutines, in whole
		// gemvRows groups.
		groups := (m + gemvRows - 1) / gemvRows
		threads = min(threads, groups)
		parallel(threads, func(t int) {
			lo := min(m, groups*t/threads*gemvRows)
			hi := min(m, groups*(t+1)/threads*gemvRows)
			im.gemvN(lo, hi, n, alpha, a, lda, x, y)
		})
		return
	}
	// y += alpha·Σ_i x[i]·A[i,:]: split the columns of A (entries of y).
	const colAlign = 16 // keep chunk starts on cache-line boundaries
	chunks := (n + colAlign - 1) / colAlign
	threads = min(threads, chunks)
	parallel(threads, func(t int) {
		lo := min(n, chunks*t/threads*colAlign)
		hi := min(n, chunks*(t+1)/threads*colAlign)
		for i := 0; i < m; i++ {
			if xi := alpha * x[i]; xi != 0 {
				im.axpy(hi-lo, xi, a[i*lda+lo:i*lda+hi], y[lo:hi])
			}
		}
	})
}

// gemvN computes y[lo:hi] += alpha·A[lo:hi,:]·x.
func (im *Impl) gemvN(lo, hi, n int, alpha float32, a []float32, lda int, x, y []float32) {
	var out [gemvRows]float32
	i := lo
	for ; i+gemvRows <= hi; i += gemvRows {
		im.dot4(n, a[i*lda:], lda, x, &out)
		for r, v := range out {
			y[i+r] += alpha * v
		}
	}
	for ; i < hi; i++ {
		y[i] += alpha * im.dot(n, a[i*lda:], x)
	}
}

// parallel runs f(0..threads-1), the last on the calling goroutine.
func parallel(threads int, f func(t int)) {
	if threads <= 1 {
		f(0)
		return
	}
	if pool.run(threads, f) {
		return
	}
	var wg sync.WaitGroup
	wg.Add(threads - 1)
	for t := 0; t < threads-1; t++ {
		go func(t int) {
			defer wg.Done()
			f(t)
		}(t)
	}
	f(threads - 1)
	wg.Wait()
}

// sdotGo is the pure-Go dot product with four independent partial sums.
func sdotGo(n int, x, y []float32) float32 {
	x, y = x[:n], y[:n]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= n; i += 4 {
		s0 += x[i] * y[i]
		s1 += x[i+1] * y[i+1]
		s2 += x[i+2] * y[i+2]
		s3 += x[i+3] * y[i+3]
	}
	for ; i < n; i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// sdotRowsGo sets y[r] = W[r,:n]·x for the rows r < rows of W (stride
// ldw): the portable twin of the streaming decode kernel.
func sdotRowsGo(rows, n int, w []float32, ldw int, x, y []float32) {
	for r := range y[:rows] {
		y[r] = sdotGo(n, w[r*ldw:], x)
	}
}

// sdot4Go computes out[r] = A[r,:n]·x for the four rows r of A.
func sdot4Go(n int, a []float32, lda int, x []float32, out *[4]float32) {
	for r := range out {
		out[r] = sdotGo(n, a[r*lda:], x)
	}
}

// saxpyGo is the pure-Go y += alpha·x, unrolled by four.
func saxpyGo(n int, alpha float32, x, y []float32) {
	x, y = x[:n], y[:n]
	i := 0
	for ; i+4 <= n; i += 4 {
		y[i] += alpha * x[i]
		y[i+1] += alpha * x[i+1]
		y[i+2] += alpha * x[i+2]
		y[i+3] += alpha * x[i+3]
	}
	for ; i < n; i++ {
		y[i] += alpha * x[i]
	}
}
