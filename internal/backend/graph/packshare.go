package graph

import (
	"fmt"
	"strings"
	"sync"

	"github.com/fovea-ml/fovea/internal/blas"
)

// packShare holds the Linear weights packed for sgemm once per Run and
// shared read-only by the replicas of a Replicas (every replica multiplies
// by the same weights): without it each replica would pack every weight
// itself, twice per step (op(B) = wᵀ forward, w for the input gradient),
// a cost that grows with the replica count while the products shrink.
// Trainable weights are repacked on the first use in each Run (AdamW
// changed them); frozen ones once, until RefreshFrozen.
type packShare struct {
	mu      sync.Mutex
	entries map[packKey]*packEntry
	gen     uint64 // Run count: a trainable entry is valid for one gen
}

// packKey names one packed operand: the first element of the weight (of
// the first member of a LinearMulti; rest names the other members) and
// the layout.
type packKey struct {
	w      *float32
	rest   string
	trans  bool // op(B) = wᵀ (forward) or w (input gradient)
	k, n   int  // op(B) is k×n
	frozen bool
}

type packEntry struct {
	mu    sync.Mutex
	gen   uint64
	valid bool
	buf   []float32 // the panels, reused by every repack
	stack []float32 // a LinearMulti's stacked members, reused
	pb    *blas.PackedB
}

func newPackShare() *packShare { return &packShare{entries: map[packKey]*packEntry{}} }

// next starts a Run: trainable entries must be packed afresh. It is
// called between runs, never while replicas run.
func (s *packShare) next() { s.gen++ }

// refreshFrozen drops the frozen entries (Backend.RefreshFrozen).
func (s *packShare) refreshFrozen() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, e := range s.entries {
		if k.frozen {
			e.mu.Lock()
			e.valid = false
			e.mu.Unlock()
		}
	}
}

// packed returns op(B) [k×n] of the weights ws (stacked by rows when
// several: a LinearMulti), packing it on the first call of this Run (or,
// frozen, the first call since RefreshFrozen); concurrent callers wait
// for it and share the result.
func (s *packShare) packed(im *blas.Impl, frozen, trans bool, k, n int, ws ...[]float32) *blas.PackedB {
	key := packKey{w: &ws[0][0], trans: trans, k: k, n: n, frozen: frozen}
	if len(ws) > 1 {
		var b strings.Builder
		for _, w := range ws[1:] {
			fmt.Fprintf(&b, "%p/%d,", &w[0], len(w))
		}
		key.rest = b.String()
	}
	s.mu.Lock()
	e, ok := s.entries[key]
	if !ok {
		e = &packEntry{}
		s.entries[key] = e
	}
	gen := s.gen
	s.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.valid && (frozen || e.gen == gen) {
		return e.pb
	}
	b := ws[0]
	if len(ws) > 1 {
		size := 0
		for _, w := range ws {
			size += len(w)
		}
		e.stack = grow(e.stack, size)
		off := 0
		for _, w := range ws {
			off += copy(e.stack[off:], w)
		}
		b = e.stack
	}
	ld := n // w [Out, In] row-major: op(B) = wᵀ is In×Out (ld In = k), w is Out×In (ld In = n)
	if trans {
		ld = k
	}
	if size := im.PackedLen(k, n); len(e.buf) < size {
		e.buf = make([]float32, size)
	}
	e.pb = im.PackBInto(e.buf, trans, k, n, b, ld)
	e.gen, e.valid = gen, true
	return e.pb
}
