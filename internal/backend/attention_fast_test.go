package backend

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea/internal/tensor"
)

// attnCase is one fast-vs-reference attention comparison.
type attnCase struct {
	b, h, kvh, tq, tk, dh int
	causal                bool
	// maskB, maskH are the mask's leading dims (0: no mask).
	maskB, maskH int
	// cached is the number of positions already in the KV cache (tk then
	// counts only the new keys); -1 means no cache.
	cached int
	// blockRow, when true, masks every key of query 0 of head 0 with −Inf.
	blockRow bool
}

func (c attnCase) String() string {
	return fmt.Sprintf("b%d_h%d_kvh%d_tq%d_tk%d_dh%d_causal%v_mask%dx%d_cached%d_block%v",
		c.b, c.h, c.kvh, c.tq, c.tk, c.dh, c.causal, c.maskB, c.maskH, c.cached, c.blockRow)
}

func randTensor(rng *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i := range t.Data {
		t.Data[i] = rng.Float32()*2 - 1
	}
	return t
}

// attnInputs builds q, k, v, the options (with a fresh, identically
// prefilled cache each call) for c.
func attnInputs(c attnCase, seed uint64) (q, k, v *tensor.Tensor, opt AttnOpts) {
	rng := rand.New(rand.NewPCG(seed, 7))
	q = randTensor(rng, c.b, c.h, c.tq, c.dh)   // [B, H, Tq, Dh]
	k = randTensor(rng, c.b, c.kvh, c.tk, c.dh) // [B, KVH, Tk, Dh]
	v = randTensor(rng, c.b, c.kvh, c.tk, c.dh) // [B, KVH, Tk, Dh]
	opt.Causal = c.causal
	total := c.tk
	if c.cached >= 0 {
		cache := NewKVCache(c.b, c.kvh, c.dh)
		if c.cached > 0 {
			pk := randTensor(rng, c.b, c.kvh, c.cached, c.dh)
			pv := randTensor(rng, c.b, c.kvh, c.cached, c.dh)
			cache.Append(pk.Data, pv.Data, c.cached)
		}
		opt.Cache = cache
		total += c.cached
	}
	if c.maskB > 0 {
		m := randTensor(rng, c.maskB, c.maskH, c.tq, total) // [B|1, H|1, Tq, Tk]
		for i := range m.Data {
			if rng.IntN(5) == 0 {
				m.Data[i] = float32(math.Inf(-1))
			}
		}
		if c.blockRow {
			for j := 0; j < total; j++ {
				m.Data[j] = float32(math.Inf(-1))
			}
		}
		opt.Mask = m
	}
	return q, k, v, opt
}

func runAttn(c attnCase, fast bool) []float32 {
	q, k, v, opt := attnInputs(c, 42)
	p := newAttnProblem(q, k, v, opt)
	out := make([]float32, p.b*p.h*p.tq*p.dh)
	for i := range out {
		out[i] = float32(math.NaN()) // every output element must be written
	}
	if fast {
		attend(&p, out)
	} else {
		attentionRef(&p, out)
	}
	return out
}

func TestAttendMatchesReference(t *testing.T) {
	cases := []attnCase{
		// ViT-like, non-causal, odd sizes.
		{b: 1, h: 3, kvh: 3, tq: 67, tk: 67, dh: 37, cached: -1},
		{b: 2, h: 2, kvh: 2, tq: 197, tk: 197, dh: 16, cached: -1},
		// Causal prefill with GQA groups 3 and 4, several key tiles.
		{b: 1, h: 9, kvh: 3, tq: 300, tk: 300, dh: 24, causal: true, cached: -1},
		{b: 2, h: 8, kvh: 2, tq: 133, tk: 133, dh: 8, causal: true, cached: -1},
		// More keys than queries, no cache; and a long non-causal key range.
		{b: 1, h: 4, kvh: 1, tq: 5, tk: 700, dh: 12, causal: true, cached: -1},
		{b: 1, h: 2, kvh: 2, tq: 70, tk: 1000, dh: 33, cached: -1},
		// Fewer keys than queries under a causal mask: early rows see nothing.
		{b: 1, h: 2, kvh: 1, tq: 9, tk: 4, dh: 8, causal: true, cached: -1},
		// A wide group (64 query heads per kv head): query tiles of 3.
		{b: 1, h: 64, kvh: 1, tq: 6, tk: 6, dh: 4, causal: true, cached: -1},
		// Decode steps over a cache (Tq = 1), groups 1, 3, 4.
		{b: 1, h: 9, kvh: 3, tq: 1, tk: 1, dh: 64, causal: true, cached: 1023},
		{b: 2, h: 4, kvh: 4, tq: 1, tk: 1, dh: 20, causal: true, cached: 6000},
		{b: 1, h: 8, kvh: 2, tq: 1, tk: 1, dh: 7, cached: 50},
		// Chunked prefill on top of a cache.
		{b: 1, h: 6, kvh: 2, tq: 45, tk: 45, dh: 16, causal: true, cached: 77},
		// Every mask broadcast shape, with and without causal, one fully
		// masked row.
		{b: 2, h: 3, kvh: 1, tq: 17, tk: 29, dh: 9, maskB: 1, maskH: 1, cached: -1, blockRow: true},
		{b: 2, h: 3, kvh: 1, tq: 17, tk: 29, dh: 9, maskB: 2, maskH: 1, cached: -1},
		{b: 2, h: 3, kvh: 1, tq: 17, tk: 29, dh: 9, maskB: 1, maskH: 3, cached: -1, causal: true},
		{b: 2, h: 4, kvh: 2, tq: 70, tk: 301, dh: 9, maskB: 2, maskH: 4, cached: -1, blockRow: true, causal: true},
		{b: 1, h: 3, kvh: 3, tq: 3, tk: 3, dh: 5, maskB: 1, maskH: 3, cached: 10, causal: true},
	}
	for _, c := range cases {
		t.Run(c.String(), func(t *testing.T) {
			want := runAttn(c, false)
			got := runAttn(c, true)
			require.Len(t, got, len(want))
			for i := range want {
				require.False(t, math.IsNaN(float64(want[i])), "reference NaN at %d", i)
				require.InDeltaf(t, want[i], got[i], 2e-5, "element %d", i)
			}
			if c.blockRow {
				// Query 0 of head 0 sees no key: zeros, as softmax gives.
				for j := 0; j < c.dh; j++ {
					require.Zero(t, got[j])
				}
			}
		})
	}
}

func TestAttendCausalNothingVisibleIsZero(t *testing.T) {
	c := attnCase{b: 1, h: 1, kvh: 1, tq: 6, tk: 2, dh: 4, causal: true, cached: -1}
	got := runAttn(c, true)
	// Query i sees keys j ≤ (Tk − Tq) + i = i − 4: rows 0..3 see nothing.
	for i := 0; i < 4*c.dh; i++ {
		require.Zero(t, got[i])
	}
	// Row 4 sees key 0 only: its output is v[0] exactly up to rounding.
	_, _, v, _ := attnInputs(c, 42)
	for j := 0; j < c.dh; j++ {
		require.InDelta(t, v.Data[j], got[4*c.dh+j], 1e-6)
	}
}

func TestEagerAttentionUsesCache(t *testing.T) {
	// Prefill then one step through Eager equals one uncached call over
	// the whole sequence (the step's row).
	c := attnCase{b: 1, h: 6, kvh: 2, tq: 12, tk: 12, dh: 10, causal: true, cached: -1}
	q, k, v, opt := attnInputs(c, 3)
	var e Eager
	full := T(e.Attention(q, k, v, opt)) // [1, 6, 12, 10]
	cache := NewKVCache(1, 2, 10)
	e.Attention(e.Slice(q, 2, 0, 11), e.Slice(k, 2, 0, 11), e.Slice(v, 2, 0, 11), AttnOpts{Causal: true, Cache: cache})
	step := T(e.Attention(e.Slice(q, 2, 11, 12), e.Slice(k, 2, 11, 12), e.Slice(v, 2, 11, 12), AttnOpts{Causal: true, Cache: cache}))
	want := T(e.Slice(full, 2, 11, 12))
	require.Equal(t, want.Shape, step.Shape)
	for i := range want.Data {
		require.InDelta(t, want.Data[i], step.Data[i], 2e-6)
	}
}
