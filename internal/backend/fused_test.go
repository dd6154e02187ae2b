package backend

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea/internal/tensor"
)

// splitRef is the unfused head split: x [B, T, N·Dh] → [B, N, T, Dh].
func splitRef(x *tensor.Tensor, heads int) *tensor.Tensor {
	bs, t, w := x.Shape[0], x.Shape[1], x.Shape[2]
	return transposeRef(x.Reshape(bs, t, heads, w/heads), []int{0, 2, 1, 3})
}

func TestSplitHeadsRoPEMatchesRef(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 1))
	for _, tc := range []struct {
		b, t, heads, dh int
		negative        bool
	}{{2, 37, 3, 16, false}, {1, 256, 9, 64, false}, {1, 1, 3, 64, false}, {2, 5, 2, 8, true}} {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			r, err := NewRoPE(tc.dh, 10000, nil)
			require.NoError(t, err)
			pos := make([]int, tc.t)
			for i := range pos {
				pos[i] = 2*i + 1000*(i%2) + 7
				if tc.negative {
					pos[i] -= 1010
				}
			}
			x := randTensor(rng, tc.b, tc.t, tc.heads*tc.dh)
			want := ropeRef(splitRef(x, tc.heads), pos, r)
			got := T(Eager{}.SplitHeadsRoPE(x, tc.heads, pos, r))
			require.Equal(t, want.Shape, got.Shape)
			for i := range want.Data {
				require.InDelta(t, want.Data[i], got.Data[i], 1e-6)
			}
			// Without a RoPE it is the plain split.
			require.Equal(t, splitRef(x, tc.heads), T(Eager{}.SplitHeadsRoPE(x, tc.heads, nil, nil)))
		})
	}
	require.Panics(t, func() { Eager{}.SplitHeadsRoPE(tensor.New(1, 2, 12), 5, nil, nil) })
}

func TestRoPETableConcurrentGrowth(t *testing.T) {
	r, err := NewRoPE(32, 500000, nil)
	require.NoError(t, err)
	var wg sync.WaitGroup
	tables := make([]*RopeTable, 16)
	for g := range tables {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			tables[g] = r.Table(1 + g*173)
		}(g)
	}
	wg.Wait()
	cos, sin := make([]float32, 16), make([]float32, 16)
	for g, tab := range tables {
		require.GreaterOrEqual(t, tab.N, 1+g*173)
		for p := 0; p < tab.N; p += 37 {
			r.CosSin(p, cos, sin)
			c, s := tab.Row(p)
			require.Equal(t, cos, c, "position %d", p)
			require.Equal(t, sin, s, "position %d", p)
		}
	}
	require.Same(t, r.Table(10), r.Table(100), "a covered range does not rebuild the table")
}

func TestAttentionMergedMatchesAttention(t *testing.T) {
	for _, c := range []attnCase{
		{b: 2, h: 6, kvh: 2, tq: 40, tk: 40, dh: 16, causal: true, cached: -1},
		{b: 1, h: 9, kvh: 3, tq: 1, tk: 1, dh: 64, causal: true, cached: 30},
		{b: 1, h: 4, kvh: 4, tq: 17, tk: 17, dh: 8, maskB: 1, maskH: 4, cached: -1},
	} {
		t.Run(c.String(), func(t *testing.T) {
			q, k, v, opt := attnInputs(c, 3)
			want := T(Eager{}.Attention(q, k, v, opt)) // [B, H, Tq, Dh]
			want = transposeRef(want, []int{0, 2, 1, 3}).Reshape(c.b, c.tq, c.h*c.dh)
			_, _, _, opt = attnInputs(c, 3) // a fresh cache
			require.Equal(t, want, T(Eager{}.AttentionMerged(q, k, v, opt)))
		})
	}
}

func TestGatedActivationMatchesRef(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 1))
	for _, n := range []int{7, 4096*3 + 5} {
		g, u := scaledTensor(rng, 8, 3, n), scaledTensor(rng, 2, 3, n)
		want := g.Clone()
		silu(want.Data)
		for i := range want.Data {
			want.Data[i] *= u.Data[i]
		}
		got := T(Eager{}.GatedActivation(g, u, ActSiLU))
		require.Equal(t, want.Shape, got.Shape)
		for i := range want.Data {
			require.InDelta(t, want.Data[i], got.Data[i], 1e-5*(1+math.Abs(float64(want.Data[i]))))
		}
	}
	require.Panics(t, func() { Eager{}.GatedActivation(tensor.New(2, 3), tensor.New(3, 2), ActSiLU) })
}

// linearRef is res + x·wᵀ + b in float64 (b, res may be nil).
func linearRef(x, w, b, res *tensor.Tensor) []float64 {
	out, in := w.Shape[0], w.Shape[1]
	m := x.Len() / in
	y := make([]float64, m*out)
	for i := 0; i < m; i++ {
		for o := 0; o < out; o++ {
			var s float64
			for p := 0; p < in; p++ {
				s += float64(x.Data[i*in+p]) * float64(w.Data[o*in+p])
			}
			if b != nil {
				s += float64(b.Data[o])
			}
			if res != nil {
				s += float64(res.Data[i*out+o])
			}
			y[i*out+o] = s
		}
	}
	return y
}

func TestLinearPreparedF32AndResidual(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 1))
	for _, sh := range []struct{ out, in int }{{70, 45}, {192, 576}, {33, 1}} {
		w := randTensor(rng, sh.out, sh.in)
		bias := randTensor(rng, sh.out)
		prep, err := PrepareF32([]*tensor.Tensor{w, w, bias, nil})
		require.NoError(t, err)
		require.Len(t, prep, 1, "one entry per distinct 2-D tensor")
		for _, e := range []Eager{{}, {Prepared: prep}} {
			for _, m := range []int{1, 3, 8, 9, 40, 300} {
				name := fmt.Sprintf("%dx%d/m%d/prepared%v", sh.out, sh.in, m, e.Prepared != nil)
				x := randTensor(rng, 1, m, sh.in)
				res := randTensor(rng, 1, m, sh.out)
				wv := e.Weight(w)
				tol := 1e-5 * float64(sh.in)
				for _, c := range []struct {
					b, res *tensor.Tensor
				}{{nil, nil}, {bias, nil}, {nil, res}, {bias, res}} {
					var bv Value
					if c.b != nil {
						bv = c.b
					}
					var got Value
					if c.res == nil {
						got = e.Linear(x, wv, bv)
					} else {
						got = e.LinearAdd(x, wv, bv, c.res)
					}
					gt := T(got)
					require.Equal(t, []int{1, m, sh.out}, gt.Shape, name)
					want := linearRef(x, w, c.b, c.res)
					for i, v := range want {
						require.InDelta(t, v, gt.Data[i], tol, "%s bias %v res %v at %d", name, c.b != nil, c.res != nil, i)
					}
				}
			}
		}
		// A prepared table serves embedding rows exactly.
		ids := []int{sh.out - 1, 0, sh.out / 2}
		got := T(Eager{Prepared: prep}.Embedding(Eager{Prepared: prep}.Weight(w), ids))
		for i, id := range ids {
			require.Equal(t, w.Data[id*sh.in:(id+1)*sh.in], got.Data[i*sh.in:(i+1)*sh.in])
		}
	}
	require.Panics(t, func() { Eager{}.LinearAdd(tensor.New(2, 3), tensor.New(4, 3), nil, tensor.New(2, 5)) })
}

// TestLinearMulti checks LinearMulti against linearRef per weight: all
// prepared (one grouped pass), none prepared and a mix (one Linear each),
// with and without biases, for decode-sized and blocked row counts.
func TestLinearMulti(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 2))
	const in = 64
	wq, wk, wv := randTensor(rng, 96, in), randTensor(rng, 32, in), randTensor(rng, 33, in)
	bq, bv := randTensor(rng, 96), randTensor(rng, 33)
	prep, err := PrepareF32([]*tensor.Tensor{wq, wk, wv})
	require.NoError(t, err)
	mixed := map[*tensor.Tensor]PreparedMatrix{wq: prep[wq], wv: prep[wv]}
	for _, e := range []Eager{{}, {Prepared: prep}, {Prepared: mixed}} {
		ws := []*tensor.Tensor{wq, wk, wv}
		for _, m := range []int{1, 4, 9, 70} {
			x := randTensor(rng, 1, m, in)
			for _, bs := range [][]*tensor.Tensor{nil, {bq, nil, bv}} {
				var bvals []Value
				if bs != nil {
					bvals = []Value{bs[0], nil, bs[2]}
				}
				got := Linears(e, x, []Value{e.Weight(wq), e.Weight(wk), e.Weight(wv)}, bvals)
				require.Len(t, got, 3)
				for g, w := range ws {
					var b *tensor.Tensor
					if bs != nil {
						b = bs[g]
					}
					gt := T(got[g])
					require.Equal(t, []int{1, m, w.Shape[0]}, gt.Shape)
					want := linearRef(x, w, b, nil)
					for i, v := range want {
						require.InDelta(t, v, gt.Data[i], 1e-5*in, "prepared %d, m %d, weight %d at %d", len(e.Prepared), m, g, i)
					}
				}
			}
		}
	}
	require.Panics(t, func() { Eager{}.LinearMulti(tensor.New(1, in), []Value{wq}, []Value{nil, nil}) })
}
