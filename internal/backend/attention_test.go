package backend_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea/internal/backend"
	ft "github.com/fovea-ml/fovea/internal/tensor"
)

// refInvFreq is HF's default inv_freq and, when scaled, the float64 form of
// transformers' _compute_llama3_parameters.
func refInvFreq(dh int, theta float64, s *backend.Llama3Scaling) []float64 {
	inv := make([]float64, dh/2)
	for i := range inv {
		inv[i] = 1 / math.Pow(theta, float64(2*i)/float64(dh))
	}
	if s == nil {
		return inv
	}
	old := float64(s.OriginalMaxPos)
	lowWavelen := old / s.LowFreqFactor
	highWavelen := old / s.HighFreqFactor
	for i, f := range inv {
		wavelen := 2 * math.Pi / f
		switch {
		case wavelen < highWavelen:
			// high frequency: unchanged
		case wavelen > lowWavelen:
			inv[i] = f / s.Factor
		default:
			smooth := (old/wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor)
			inv[i] = (1-smooth)*f/s.Factor + smooth*f
		}
	}
	return inv
}

func TestNewRoPE(t *testing.T) {
	// mllama-like scaling; with Dh 16 and theta 5e5 the wavelengths fall in
	// all three bands (kept, smoothed, divided).
	llama3 := &backend.Llama3Scaling{Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPos: 8192}
	for _, tc := range []struct {
		dh    int
		theta float64
		s     *backend.Llama3Scaling
	}{{6, 10000, nil}, {16, 10000, nil}, {16, 500000, llama3}, {34, 500000, llama3}} {
		r, err := backend.NewRoPE(tc.dh, tc.theta, tc.s)
		require.NoError(t, err)
		want := refInvFreq(tc.dh, tc.theta, tc.s)
		require.Len(t, r.InvFreq, len(want))
		for i, w := range want {
			require.InEpsilonf(t, w, float64(r.InvFreq[i]), 2e-6, "dh %d freq %d", tc.dh, i)
		}
	}
	// The three llama3 bands are all exercised by the Dh 16 case.
	inv := refInvFreq(16, 500000, nil)
	var kept, smoothed, divided int
	for _, f := range inv {
		switch w := 2 * math.Pi / f; {
		case w < 2048:
			kept++
		case w > 8192:
			divided++
		default:
			smoothed++
		}
	}
	require.Positive(t, kept)
	require.Positive(t, smoothed)
	require.Positive(t, divided)

	_, err := backend.NewRoPE(5, 10000, nil)
	require.ErrorContains(t, err, "head width 5")
	_, err = backend.NewRoPE(4, 0, nil)
	require.ErrorContains(t, err, "rope_theta")
	_, err = backend.NewRoPE(4, 10, &backend.Llama3Scaling{Factor: 8, LowFreqFactor: 4, HighFreqFactor: 1, OriginalMaxPos: 10})
	require.ErrorContains(t, err, "invalid llama3 scaling")
}

func TestRoPEApply(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const dh = 10
	r, err := backend.NewRoPE(dh, 10000, nil)
	require.NoError(t, err)
	pos := []int{0, 7, 31, 2, 100}
	x := randT(rng, 1, 2, 3, len(pos), dh)
	half := dh / 2
	inv := refInvFreq(dh, 10000, nil)
	want := make([]float64, x.Len())
	for off := 0; off < x.Len(); off += dh {
		p := float64(pos[(off/dh)%len(pos)])
		for i := 0; i < half; i++ {
			c, s := math.Cos(p*inv[i]), math.Sin(p*inv[i])
			a, b := float64(x.Data[off+i]), float64(x.Data[off+i+half])
			want[off+i] = a*c - b*s
			want[off+i+half] = b*c + a*s
		}
	}
	before := x.Clone()
	requireClose(t, x.Shape, want, eg.RoPE(x, pos, r), 2e-5, 0)
	require.Equal(t, before.Data, x.Data)
	require.Panics(t, func() { eg.RoPE(x, pos[:2], r) })
}

// refAttention is the naive triple loop: for every (b, h, i), scores over
// keys j of kv head h/(H/KVH), additive mask (broadcast over size-1 B or
// H), causal limit j ≤ Tk−Tq+i, softmax (a fully masked row gives 0), Σ p·v.
func refAttention(q, k, v, mask *ft.Tensor, scale float64, causal bool) []float64 {
	b, h, tq, dh := q.Shape[0], q.Shape[1], q.Shape[2], q.Shape[3]
	kvh, tk := k.Shape[1], k.Shape[2]
	out := make([]float64, q.Len())
	for bi := 0; bi < b; bi++ {
		for hi := 0; hi < h; hi++ {
			kh := hi / (h / kvh)
			for i := 0; i < tq; i++ {
				p := make([]float64, tk)
				m := math.Inf(-1)
				for j := 0; j < tk; j++ {
					if causal && j > tk-tq+i {
						p[j] = math.Inf(-1)
						continue
					}
					var s float64
					for d := 0; d < dh; d++ {
						s += float64(q.Data[((bi*h+hi)*tq+i)*dh+d]) * float64(k.Data[((bi*kvh+kh)*tk+j)*dh+d])
					}
					s *= scale
					if mask != nil {
						mb, mh := bi, hi
						if mask.Shape[0] == 1 {
							mb = 0
						}
						if mask.Shape[1] == 1 {
							mh = 0
						}
						s += float64(mask.Data[((mb*mask.Shape[1]+mh)*tq+i)*tk+j])
					}
					p[j] = s
					m = math.Max(m, s)
				}
				if math.IsInf(m, -1) {
					continue // fully masked: output stays 0
				}
				var sum float64
				for j := range p {
					p[j] = math.Exp(p[j] - m)
					sum += p[j]
				}
				for d := 0; d < dh; d++ {
					var acc float64
					for j := range p {
						acc += p[j] / sum * float64(v.Data[((bi*kvh+kh)*tk+j)*dh+d])
					}
					out[((bi*h+hi)*tq+i)*dh+d] = acc
				}
			}
		}
	}
	return out
}

func TestAttentionCausalGQA(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	for _, g := range []struct{ b, h, kvh, t, dh int }{{2, 6, 2, 5, 3}, {1, 3, 3, 7, 5}, {3, 4, 1, 1, 4}, {1, 8, 2, 33, 16}} {
		q := randT(rng, 1, g.b, g.h, g.t, g.dh)
		k := randT(rng, 1, g.b, g.kvh, g.t, g.dh)
		v := randT(rng, 1, g.b, g.kvh, g.t, g.dh)
		want := refAttention(q, k, v, nil, 1/math.Sqrt(float64(g.dh)), true)
		requireClose(t, q.Shape, want, eg.Attention(q, k, v, backend.AttnOpts{Causal: true}), tol, 0)
		// Non-causal with an explicit scale.
		want = refAttention(q, k, v, nil, 0.3, false)
		requireClose(t, q.Shape, want, eg.Attention(q, k, v, backend.AttnOpts{Scale: 0.3}), tol, 0)
	}
}

func TestAttentionMaskBroadcast(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	const b, h, kvh, tq, tk, dh = 2, 4, 2, 3, 7, 5
	q := randT(rng, 1, b, h, tq, dh)
	k := randT(rng, 1, b, kvh, tk, dh)
	v := randT(rng, 1, b, kvh, tk, dh)
	for _, ms := range [][]int{{1, 1, tq, tk}, {b, 1, tq, tk}, {1, h, tq, tk}, {b, h, tq, tk}} {
		mask := randT(rng, 2, ms...)
		mask.Data[3] = -1e9 // a padded key
		for _, causal := range []bool{false, true} {
			want := refAttention(q, k, v, mask, 1/math.Sqrt(dh), causal)
			got := eg.Attention(q, k, v, backend.AttnOpts{Mask: mask, Causal: causal})
			requireClose(t, q.Shape, want, got, tol, 0)
		}
	}
	// A row masked entirely with -Inf yields zeros, not NaN.
	mask := ft.New(1, 1, tq, tk)
	for j := 0; j < tk; j++ {
		mask.Data[tk+j] = float32(math.Inf(-1))
	}
	got := backend.T(eg.Attention(q, k, v, backend.AttnOpts{Mask: mask}))
	want := refAttention(q, k, v, mask, 1/math.Sqrt(dh), false)
	requireClose(t, q.Shape, want, got, tol, 0)
	for _, x := range got.Data[dh : 2*dh] {
		require.Zero(t, x)
	}
	require.Panics(t, func() { eg.Attention(q, k, v, backend.AttnOpts{Mask: ft.New(1, 1, tq, tk+1)}) })
	require.Panics(t, func() { eg.Attention(q, randT(rng, 1, b, 3, tk, dh), randT(rng, 1, b, 3, tk, dh), backend.AttnOpts{}) })
}

func TestKVCachePrefillThenStepsEqualsFullCall(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	const b, h, kvh, total, prefill, dh = 2, 6, 3, 11, 4, 5
	q := randT(rng, 1, b, h, total, dh)
	k := randT(rng, 1, b, kvh, total, dh)
	v := randT(rng, 1, b, kvh, total, dh)
	full := backend.T(eg.Attention(q, k, v, backend.AttnOpts{Causal: true}))
	requireClose(t, q.Shape, refAttention(q, k, v, nil, 1/math.Sqrt(dh), true), full, tol, 0)

	cache := backend.NewKVCache(b, kvh, dh)
	var outs []backend.Value
	for start := 0; start < total; {
		n := 1
		if start == 0 {
			n = prefill
		}
		sl := func(x *ft.Tensor) backend.Value { return eg.Slice(x, 2, start, start+n) }
		outs = append(outs, eg.Attention(sl(q), sl(k), sl(v), backend.AttnOpts{Causal: true, Cache: cache}))
		start += n
		require.Equal(t, start, cache.Len())
	}
	got := backend.T(eg.Concat(2, outs...))
	require.Equal(t, full.Shape, got.Shape)
	for i := range full.Data {
		require.InDelta(t, full.Data[i], got.Data[i], 1e-6, "element %d", i)
	}
}

func TestKVCacheGrowthKeepsContents(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	const b, kvh, dh = 2, 3, 5
	c := backend.NewKVCache(b, kvh, dh)
	var ks, vs []*ft.Tensor
	for _, n := range []int{3, 1, 1, 4, 7} { // capacities 3 → 6 → 12 → 24 by doubling
		k, v := randT(rng, 1, b, kvh, n, dh), randT(rng, 1, b, kvh, n, dh)
		c.Append(k.Data, v.Data, n)
		ks, vs = append(ks, k), append(vs, v)
	}
	c.Reserve(100) // explicit growth far past doubling
	c.Reserve(50)  // no-op
	wantK := backend.T(eg.Concat(2, toValues(ks)...))
	wantV := backend.T(eg.Concat(2, toValues(vs)...))
	n := wantK.Shape[2]
	require.Equal(t, n, c.Len())
	for bi := 0; bi < b; bi++ {
		for hi := 0; hi < kvh; hi++ {
			kr, vr := c.Rows(bi, hi)
			off := (bi*kvh + hi) * n * dh
			require.Equal(t, wantK.Data[off:off+n*dh], kr)
			require.Equal(t, wantV.Data[off:off+n*dh], vr)
		}
	}
	c.Truncate(5)
	require.Equal(t, 5, c.Len())
	kr, _ := c.Rows(1, 2)
	require.Equal(t, wantK.Data[(1*kvh+2)*n*dh:(1*kvh+2)*n*dh+5*dh], kr)
	require.Panics(t, func() { c.Truncate(6) })
	c.Reset()
	require.Zero(t, c.Len())
	require.Panics(t, func() { c.Append(make([]float32, 3), make([]float32, 3), 1) })
	b0, h0, d0 := c.Dims()
	require.Equal(t, []int{b, kvh, dh}, []int{b0, h0, d0})
}

func toValues(ts []*ft.Tensor) []backend.Value {
	out := make([]backend.Value, len(ts))
	for i, t := range ts {
		out[i] = t
	}
	return out
}
