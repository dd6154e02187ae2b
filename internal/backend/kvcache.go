package backend

import "fmt"

// KVCache is the append-only key/value cache of one attention layer for
// one batch of sequences: run state, never part of the weights. Storage is
// [B, KVH, Cap, Dh]; the first Len positions of each (b, head) row are
// valid. Capacity grows by doubling (amortised O(1) append), or is fixed
// up front with Reserve.
type KVCache struct {
	b, kvh, dh int
	n, cap     int
	k, v       []float32
}

// NewKVCache returns an empty cache for b sequences, kvh heads of width dh.
func NewKVCache(b, kvh, dh int) *KVCache {
	return &KVCache{b: b, kvh: kvh, dh: dh}
}

// Len is the number of cached positions.
func (c *KVCache) Len() int { return c.n }

// Reset empties the cache, keeping its storage.
func (c *KVCache) Reset() { c.n = 0 }

// Truncate drops positions n and later (for speculative or edited prompts).
func (c *KVCache) Truncate(n int) {
	if n < 0 || n > c.n {
		panic(fmt.Sprintf("kvcache: truncate to %d of %d", n, c.n))
	}
	c.n = n
}

// Reserve grows the capacity to hold at least n positions.
func (c *KVCache) Reserve(n int) {
	if n <= c.cap {
		return
	}
	newCap := c.cap * 2
	if newCap < n {
		newCap = n
	}
	grow := func(old []float32) []float32 {
		nw := make([]float32, c.b*c.kvh*newCap*c.dh)
		for r := 0; r < c.b*c.kvh; r++ {
			copy(nw[r*newCap*c.dh:r*newCap*c.dh+c.n*c.dh], old[r*c.cap*c.dh:r*c.cap*c.dh+c.n*c.dh])
		}
		return nw
	}
	c.k, c.v = grow(c.k), grow(c.v)
	c.cap = newCap
}

// Append copies k, v [B, KVH, T, Dh] (row-major data) to the end.
func (c *KVCache) Append(k, v []float32, t int) {
	if len(k) != c.b*c.kvh*t*c.dh || len(v) != len(k) {
		panic(fmt.Sprintf("kvcache: append of %d/%d values, want [%d,%d,%d,%d]", len(k), len(v), c.b, c.kvh, t, c.dh))
	}
	c.Reserve(c.n + t)
	for r := 0; r < c.b*c.kvh; r++ {
		dst := r*c.cap*c.dh + c.n*c.dh
		src := r * t * c.dh
		copy(c.k[dst:dst+t*c.dh], k[src:src+t*c.dh])
		copy(c.v[dst:dst+t*c.dh], v[src:src+t*c.dh])
	}
	c.n += t
}

// Rows returns the valid keys and values of sequence b, kv head h, each
// [Len, Dh] contiguous.
func (c *KVCache) Rows(b, h int) (k, v []float32) {
	off := (b*c.kvh + h) * c.cap * c.dh
	return c.k[off : off+c.n*c.dh], c.v[off : off+c.n*c.dh]
}

// Dims reports the cache geometry (B, KVH, Dh).
func (c *KVCache) Dims() (b, kvh, dh int) { return c.b, c.kvh, c.dh }
