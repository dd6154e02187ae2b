package blas

import (
	"fmt"
	"sync/atomic"
)

const (
	// SmallM is the largest activation row count treated as a decode step
	// by GemvT's callers (PackedMatrix.MatMulT, backend.Eager.Linear,
	// quant's int8 path): W's rows are streamed from memory once (each
	// reused from cache for all m rows) instead of running the blocked
	// sgemm, whose packing copy of W costs more than the product here.
	SmallM = 8
	// rowTile is the number of weight rows a goroutine multiplies with
	// every activation row before moving on (rowTile·In floats stay in
	// L1/L2).
	rowTile = 16
)

// GemvT computes y [m, Out] = x [m, In]·Wᵀ with the default kernels; see
// Impl.GemvT.
func GemvT(y, x, w []float32, m, out, in int) { defaultImpl.GemvT(y, x, w, m, out, in) }

// GemvT computes y [m, Out] = x [m, In]·Wᵀ for a row-major W [Out, In],
// overwriting y: the small-m (decode) form of a Linear layer, meant for
// m ≤ SmallM. Whole rowTile-row tiles of W are split across goroutines
// (a goroutine per minGemvBytesPerThread of W, at most im's thread
// count); each
// tile is multiplied with all m activation rows by the level's row-dot
// kernel (one sequential stream per weight row) while it is in cache, so
// each weight float is read from memory once. It panics when a slice is
// too short for the shapes (a programmer error).
func (im *Impl) GemvT(y, x, w []float32, m, out, in int) {
	if m < 0 || out < 0 || in < 0 || len(x) < m*in || len(w) < out*in || len(y) < m*out {
		panic(fmt.Sprintf("blas.GemvT: W [%d %d], m=%d: x has %d, w has %d, y has %d", out, in, m, len(x), len(w), len(y)))
	}
	if m == 0 || out == 0 {
		return
	}
	if in == 0 {
		clear(y[:m*out])
		return
	}
	tiles := (out + rowTile - 1) / rowTile
	threads := min(im.threadsFor(out*in*floatBytes, minGemvBytesPerThread), tiles)
	parallel(threads, func(t int) {
		lo, hi := min(out, tiles*t/threads*rowTile), min(out, tiles*(t+1)/threads*rowTile)
		for r0 := lo; r0 < hi; r0 += rowTile {
			r1 := min(r0+rowTile, hi)
			for i := 0; i < m; i++ {
				im.dotRows(r1-r0, in, w[r0*in:r1*in], in, x[i*in:(i+1)*in], y[i*out+r0:i*out+r1])
			}
		}
	})
}

// GemvTRef is the reference twin of GemvT: plain loops, float64 sums.
func GemvTRef(y, x, w []float32, m, out, in int) {
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

// Parallel runs f(0..n-1) on n goroutines, the last on the calling one,
// and waits for all of them (n ≤ 1: f(0) inline). It is the fork-join
// helper of this package (persistent helpers, see pool.go), exported so
// that packages quant and backend share it.
func Parallel(n int, f func(w int)) { parallel(n, f) }

// ParallelItems runs fn(worker, item) for every item in [0, n) on w
// workers (Parallel), handing items out in increasing order from a shared
// counter so that uneven items balance; put the heaviest first. worker is
// in [0, w) and lets fn index per-worker scratch.
func ParallelItems(n, w int, fn func(worker, item int)) {
	var next atomic.Int64
	parallel(min(w, n), func(worker int) {
		for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
			fn(worker, i)
		}
	})
}

// threadsFor is how many goroutines a product of the given work deserves:
// one per perThread of it, at least one, at most im's thread count.
func (im *Impl) threadsFor(work, perThread int) int {
	return min(im.maxThreads(), max(1, work/perThread))
}
