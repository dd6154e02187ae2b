package blas

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// workerPool runs the fork-join jobs of parallel on persistent helper
// goroutines instead of starting goroutines per call.
//
// Why: a decode step is ~100 short parallel products (tens to hundreds of
// µs each) separated by a few µs of serial work. Starting a goroutine per
// product means waking a parked thread each time, and in a VM that
// latency is a large fraction of the product: a 2-thread stream over the
// SmolLM2 weights measured 13–14 GB/s with a goroutine per matrix against
// 21 GB/s with helpers that were already running.
//
// Helpers spin for at most spinWait after a job, checking for the next
// one, then park on a channel; a job wakes the parked ones. The spin is
// bounded so that an idle process, or one sharing the machine, gives its
// cores back within spinWait (an earlier pool that spun forever halved
// decode speed on a loaded machine). One job runs on the pool at a time;
// a concurrent or nested parallel call (TryLock fails) starts goroutines
// as before, so callers never wait for each other.
//
// The pool is the package's one piece of process-wide state: a set of
// threads, like the runtime's own, holding no configuration and no data
// between jobs.
type workerPool struct {
	mu      sync.Mutex // held by the job in flight
	start   sync.Once
	helpers []*helper
	cur     atomic.Pointer[poolJob] // the latest job, replaced per job
}

// poolJob is one fork-join job, immutable once published but for pending
// and claimed.
type poolJob struct {
	f       func(int) // helper i runs f(i)
	n       int       // helpers taking part
	pending atomic.Int64
	// claimed[i] is set by whoever runs share i: helper i when it picks
	// the job up, or the caller, which takes every share no helper has
	// started once its own is done. A helper that the OS has descheduled
	// (a loaded machine) then delays nobody: the caller waits only for
	// shares already running.
	claimed []atomic.Bool
}

type helper struct {
	parked atomic.Bool
	wake   chan struct{} // buffer 1: a wake-up is never lost or blocking
}

const (
	// spinWait is how long an idle helper polls for the next job before
	// parking: longer than the serial gaps inside a decode step, short
	// enough to give the core back quickly when the work stops.
	// Measured on the shared 2-core machine (load 4–6), alternating
	// builds: 20 µs beat 200 µs in training steps (+5–30%) and decode
	// (F32 and Q8_0), where a spinning helper only took CPU time from the
	// thread doing the serial work.
	spinWait = 20 * time.Microsecond
	// spinCheck is the number of polls between clock reads.
	spinCheck = 256
	// yieldAfter is the number of polls after which a caller waiting for
	// its helpers yields its thread between polls (a helper may have been
	// descheduled).
	yieldAfter = 1 << 14
)

var pool workerPool

// run executes f(0..n-1), f(n-1) on the calling goroutine, and reports
// false without running anything when the pool is busy or too small.
func (p *workerPool) run(n int, f func(int)) bool {
	p.start.Do(p.startHelpers)
	if n-1 > len(p.helpers) || !p.mu.TryLock() {
		return false
	}
	defer p.mu.Unlock()
	j := &poolJob{f: f, n: n - 1, claimed: make([]atomic.Bool, n-1)}
	j.pending.Store(int64(n - 1))
	p.cur.Store(j)
	for _, h := range p.helpers[:n-1] {
		if h.parked.Load() {
			select {
			case h.wake <- struct{}{}:
			default:
			}
		}
	}
	f(n - 1)
	for i := range j.claimed {
		if j.claimed[i].CompareAndSwap(false, true) {
			f(i)
			j.pending.Add(-1)
		}
	}
	for i := 0; j.pending.Load() != 0; i++ {
		if i > yieldAfter {
			runtime.Gosched()
		}
	}
	return true
}

// startHelpers starts GOMAXPROCS−1 helpers (the caller is the last
// worker of every job).
func (p *workerPool) startHelpers() {
	p.helpers = make([]*helper, runtime.GOMAXPROCS(0)-1)
	for i := range p.helpers {
		h := &helper{wake: make(chan struct{}, 1)}
		p.helpers[i] = h
		go p.loop(i, h, p.cur.Load()) // the jobs after this one are its to run
	}
}

// loop is helper i: wait for a job (spin, then park), run its share.
func (p *workerPool) loop(i int, h *helper, seen *poolJob) {
	for {
		j := p.waitJob(h, seen)
		seen = j
		if i < j.n && j.claimed[i].CompareAndSwap(false, true) {
			j.f(i)
			j.pending.Add(-1)
		}
	}
}

// waitJob returns the first job published after seen.
func (p *workerPool) waitJob(h *helper, seen *poolJob) *poolJob {
	deadline := time.Now().Add(spinWait)
	for polls := 1; ; polls++ {
		if j := p.cur.Load(); j != seen {
			return j
		}
		if polls%spinCheck != 0 || time.Now().Before(deadline) {
			continue
		}
		// Park. Announce it first, then look once more: a job published
		// before the announcement is seen here, one after it sends a
		// wake-up.
		h.parked.Store(true)
		if j := p.cur.Load(); j != seen {
			h.parked.Store(false)
			return j
		}
		<-h.wake
		h.parked.Store(false)
		deadline = time.Now().Add(spinWait)
	}
}
