package graph

import (
	"runtime"

	"github.com/fovea-ml/fovea/internal/blas"
)

// budget is the thread budget of one Backend's kernels (Options.Threads):
// every kernel the Backend builds holds it, so two Backends can run side
// by side with their own budgets (Replicas: one thread each) and no
// package-level setting is shared. A nil budget means GOMAXPROCS.
type budget struct {
	n   int        // goroutines per kernel call; 0: runtime.GOMAXPROCS(0) at run time
	im  *blas.Impl // the kernels with at most n threads
	one *blas.Impl // the kernels on one thread
	// share, set for the replicas of a Replicas, packs the frozen Linear
	// weights once for all of them (packshare.go).
	share *packShare
}

func newBudget(n int) *budget {
	n = max(n, 0)
	return &budget{n: n, im: blas.Default().WithThreads(n), one: blas.Default().WithThreads(1)}
}

// shared returns the replicas' shared weight packings, or nil.
func (b *budget) shared() *packShare {
	if b == nil {
		return nil
	}
	return b.share
}

// sharedFor returns the replicas' shared packings for a frozen weight,
// or nil: one graph, or a trainable weight, which each product packs
// itself.
func (b *budget) sharedFor(frozen bool) *packShare {
	if !frozen {
		return nil
	}
	return b.shared()
}

// workers is the number of parallel tasks for n independent items.
func (b *budget) workers(n int) int {
	t := runtime.GOMAXPROCS(0)
	if b != nil && b.n > 0 {
		t = b.n
	}
	return max(1, min(n, t))
}

// blas is the kernel set with the budget's thread count.
func (b *budget) blas() *blas.Impl {
	if b == nil {
		return blas.Default()
	}
	return b.im
}

// single is the kernel set on one thread, for products that run side by
// side in parallel tasks.
func (b *budget) single() *blas.Impl {
	if b == nil {
		return blas.Default().WithThreads(1)
	}
	return b.one
}
