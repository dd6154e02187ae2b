package gemv

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/fovea-ml/fovea/internal/blas"
)

const (
	// minParallelWork is the number of multiply-adds (m·Out·In) below
	// which MatMulT stays on the calling goroutine.
	minParallelWork = 1 << 17
	// MaxM is the largest number of activation rows for which GemvT
	// beats the packed sgemm for MatMulT: up to here each weight row is read from
	// memory once and reused from cache for every activation row, with no
	// packing copy. Eager.Linear routes m ≤ MaxM here.
	MaxM = 8
	// rowTile is the number of weight rows a worker multiplies with all m
	// activation rows before moving on (rowTile·In floats stay in L1/L2).
	rowTile = 16
)

// singleThreaded is the default BLAS kernel set limited to the calling
// goroutine: MatMulT does its own splitting across cores.
var singleThreaded = blas.Default().WithThreads(1)

// MatMulT computes y [m, Out] = x [m, In] · Wᵀ for a float32 W [Out, In]
// (row-major), overwriting y: the decode-step (small m) form of a Linear
// layer. Weight rows are split across runtime.GOMAXPROCS(0) goroutines
// when m·Out·In is large enough; each goroutine streams rowTile rows at a
// time through the vector dot kernels of internal/blas. It panics when a
// slice is too short for the shapes (a programmer error).
func MatMulT(y, x, w []float32, m, out, in int) {
	if m < 0 || out < 0 || in < 0 || len(x) < m*in || len(w) < out*in || len(y) < m*out {
		panic(fmt.Sprintf("gemv.MatMulT: W [%d %d], m=%d: x has %d, w has %d, y has %d", out, in, m, len(x), len(w), len(y)))
	}
	if m == 0 || out == 0 {
		return
	}
	if in == 0 {
		clear(y[:m*out])
		return
	}
	workers := runtime.GOMAXPROCS(0)
	if m*out*in < minParallelWork {
		workers = 1
	}
	tiles := (out + rowTile - 1) / rowTile
	workers = min(workers, tiles)
	Parallel(workers, func(wk int) {
		lo := min(out, tiles*wk/workers*rowTile)
		hi := min(out, tiles*(wk+1)/workers*rowTile)
		for r0 := lo; r0 < hi; r0 += rowTile {
			r1 := min(r0+rowTile, hi)
			for i := 0; i < m; i++ {
				yi, xi := y[i*out+r0:i*out+r1], x[i*in:(i+1)*in]
				if dotRows(yi, xi, w[r0*in:r1*in], r1-r0, in) {
					continue
				}
				singleThreaded.Sgemv(false, r1-r0, in, 1, w[r0*in:r1*in], in, x[i*in:(i+1)*in], 0, y[i*out+r0:i*out+r1])
			}
		}
	})
}

// MatMulTRef is the reference twin of MatMulT: plain loops, float64 sums.
func MatMulTRef(y, x, w []float32, m, out, in int) {
	for i := 0; i < m; i++ {
		for r := 0; r < out; r++ {
			var s float64
			for j := 0; j < in; j++ {
				s += float64(x[i*in+j]) * float64(w[r*in+j])
			}
			y[i*out+r] = float32(s)
		}
	}
}

// Parallel runs f(0..n-1) on n goroutines, the last on the caller, and
// waits for all of them.
func Parallel(n int, f func(w int)) {
	if n <= 1 {
		f(0)
		return
	}
	var wg sync.WaitGroup
	wg.Add(n - 1)
	for w := 0; w < n-1; w++ {
		go func(w int) {
			defer wg.Done()
			f(w)
		}(w)
	}
	f(n - 1)
	wg.Wait()
}
