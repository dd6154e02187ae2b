package backend

import (
	"runtime"
	"sync"

	"github.com/fovea-ml/fovea/internal/blas"
)

// Scratch buffers and work splitting shared by the eager kernels.
//
// Scratch memory (attention tiles, RoPE angle tables) comes from a
// sync.Pool so that steady-state inference does not allocate it on every
// call; tensors handed back to callers are always fresh, since callers may
// keep them. Scratch contents are undefined on reuse: every kernel
// initialises what it reads.

// f32Scratch is a reusable float32 buffer.
type f32Scratch struct{ s []float32 }

// scratchPool holds *f32Scratch values. It is the only package-level
// variable with state, and sync.Pool is safe for concurrent use.
var scratchPool = sync.Pool{New: func() any { return new(f32Scratch) }}

// getScratch returns a buffer of length n with undefined contents; give
// it back with putScratch.
func getScratch(n int) *f32Scratch {
	b := scratchPool.Get().(*f32Scratch)
	if cap(b.s) < n {
		b.s = make([]float32, n)
	}
	b.s = b.s[:n]
	return b
}

// putScratch returns b to the pool.
func putScratch(b *f32Scratch) { scratchPool.Put(b) }

// workers returns how many goroutines a job of the given total work
// (multiply-adds or element visits) over n independent items deserves:
// one per core, but never more than n, and one when the job is too small
// to amortise starting goroutines.
func workers(n, work int) int {
	w := runtime.GOMAXPROCS(0)
	if w > n {
		w = n
	}
	if w <= 1 || work < parallelMinWork {
		return 1
	}
	return w
}

// parallelItems runs fn(worker, item) for every item in [0, n) on w
// workers, handing items out dynamically (blas.ParallelItems), so uneven
// items balance. Items are taken in increasing order; put the heaviest
// first. worker is in [0, w) and lets fn index per-worker scratch.
func parallelItems(n, w int, fn func(worker, item int)) { blas.ParallelItems(n, w, fn) }
