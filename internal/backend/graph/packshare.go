package graph

import (
	"fmt"
	"strings"
	"sync"

	"github.com/fovea-ml/fovea/internal/blas"
)

// packShare holds the frozen Linear weights packed for sgemm once and
// shared read-only by the replicas of a Replicas (every replica multiplies
// by the same weights), as one graph packs its frozen weights once
// (frozenPack): without it every replica would hold its own packed copy.
// The first replica to reach a product packs the weight; the others wait
// for it and read the same panels. RefreshFrozen drops the packings.
//
// Trainable weights are not shared: they change every step, and a shared
// packing would be written to memory and read back by every replica,
// while each replica's sgemm packs them into its own cache-sized scratch
// at the same wall time (on N threads the others would wait for the
// packing replica anyway).
type packShare struct {
	mu      sync.Mutex
	entries map[packKey]*packEntry
}

// packKey names one packed operand: the first element of the weight (of
// the first member of a LinearMulti; rest names the other members) and
// the layout.
type packKey struct {
	w     *float32
	rest  string
	trans bool // op(B) = wᵀ (forward) or w (input gradient)
	k, n  int  // op(B) is k×n
}

type packEntry struct {
	mu    sync.Mutex
	valid bool
	pb    *blas.PackedB
}

func newPackShare() *packShare { return &packShare{entries: map[packKey]*packEntry{}} }

// refreshFrozen drops every packing (Backend.RefreshFrozen).
func (s *packShare) refreshFrozen() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.entries {
		e.mu.Lock()
		e.valid = false
		e.mu.Unlock()
	}
}

// packed returns op(B) [k×n] of the frozen weights ws (stacked by rows
// when several: a LinearMulti), packing it on the first call since
// RefreshFrozen; concurrent callers wait for it and share the result.
func (s *packShare) packed(im *blas.Impl, trans bool, k, n int, ws ...[]float32) *blas.PackedB {
	key := packKey{w: &ws[0][0], trans: trans, k: k, n: n}
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
	s.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.valid {
		return e.pb
	}
	b := ws[0]
	if len(ws) > 1 {
		b = make([]float32, 0, k*n)
		for _, w := range ws {
			b = append(b, w...)
		}
	}
	ld := n // w [Out, In] row-major: op(B) = wᵀ is In×Out (ld In = k), w is Out×In (ld In = n)
	if trans {
		ld = k
	}
	e.pb, e.valid = im.PackB(trans, k, n, b, ld), true
	return e.pb
}
