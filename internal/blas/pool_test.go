package blas

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestParallelRunsEveryIndexOnce checks parallel through the worker pool
// and its fallbacks: back-to-back jobs, jobs after the helpers parked,
// concurrent callers and nested calls, each index exactly once.
func TestParallelRunsEveryIndexOnce(t *testing.T) {
	check := func(threads int) {
		hits := make([]atomic.Int32, threads)
		parallel(threads, func(i int) { hits[i].Add(1) })
		for i := range hits {
			require.Equal(t, int32(1), hits[i].Load(), "index %d of %d", i, threads)
		}
	}
	for range 1000 { // the helpers are still spinning
		check(2)
	}
	for range 3 { // the helpers have parked
		time.Sleep(2 * spinWait)
		check(2)
	}
	check(5) // more than the pool has: goroutines
	var wg sync.WaitGroup
	for range 8 { // concurrent callers share the pool or fall back
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				check(2)
			}
		}()
	}
	wg.Wait()
	var inner atomic.Int32 // nested: the inner call cannot take the pool
	parallel(2, func(int) { parallel(2, func(int) { inner.Add(1) }) })
	require.Equal(t, int32(4), inner.Load())
}
