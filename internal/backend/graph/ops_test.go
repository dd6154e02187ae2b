package graph_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"gorgonia.org/gorgonia"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/backend/graph"
	ft "github.com/fovea-ml/fovea/internal/tensor"
)

const (
	gradTol   = 1e-4 // float64 finite differences vs analytic, relative
	parityTol = 1e-6 // float32 eager vs graph where the kernels differ, absolute
	refTol    = 1e-6 // float64 graph vs float32 eager (one float32 rounding apart), absolute
)

type opCase struct {
	name   string
	fn     builder
	shapes [][]int
	scale  float32 // input range; 0 means 1
	frozen []int   // inputs without a gradient (masks)
	// approx marks ops whose float32 graph forward is not the eager code
	// path, so eager and graph agree to parityTol instead of bit for bit:
	// Linear (eager uses internal/blas (GemvT) for ≤ blas.SmallM rows, graph
	// gorgonia's Mul → blas.Sgemm), MatMul (gorgonia's BatchedMatMul
	// around blas.Sgemm) and Attention (eager's fused online-softmax
	// kernel vs graph's matmul → scores → softmax → matmul).
	approx bool
}

func mustRoPE(t testing.TB, dh int, llama3 *backend.Llama3Scaling) *backend.RoPE {
	r, err := backend.NewRoPE(dh, 10000, llama3)
	require.NoError(t, err)
	return r
}

// opCases lists every custom op (and the built-in compositions the
// backend uses) with odd sizes.
func opCases(t testing.TB) []opCase {
	rope := mustRoPE(t, 6, nil)
	rope3 := mustRoPE(t, 8, &backend.Llama3Scaling{Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPos: 16})
	cases := []opCase{
		{name: "softmax", fn: func(be backend.Backend, in []backend.Value) backend.Value { return be.Softmax(in[0]) },
			shapes: [][]int{{2, 3, 5}}, scale: 3},
		{name: "rmsnorm", fn: func(be backend.Backend, in []backend.Value) backend.Value { return be.RMSNorm(in[0], in[1], 1e-5) },
			shapes: [][]int{{3, 7}, {7}}},
		{name: "rmsnorm_many_rows", fn: func(be backend.Backend, in []backend.Value) backend.Value { return be.RMSNorm(in[0], in[1], 1e-6) },
			shapes: [][]int{{2, 19, 9}, {9}}},
		{name: "layernorm_bias", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			return be.LayerNorm(in[0], in[1], in[2], 1e-5)
		}, shapes: [][]int{{2, 3, 5}, {5}, {5}}},
		{name: "layernorm_nobias", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			return be.LayerNorm(in[0], in[1], nil, 1e-6)
		}, shapes: [][]int{{3, 5}, {5}}},
		{name: "scale", fn: func(be backend.Backend, in []backend.Value) backend.Value { return be.Scale(in[0], -0.37) },
			shapes: [][]int{{3, 5}}},
		{name: "rope", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			return be.RoPE(in[0], []int{0, 3, 7}, rope)
		}, shapes: [][]int{{1, 2, 3, 6}}},
		{name: "rope_llama3", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			return be.RoPE(in[0], []int{5, 6, 7, 100, 3000}, rope3)
		}, shapes: [][]int{{2, 1, 5, 8}}},
		{name: "add_bcast_BT1", fn: func(be backend.Backend, in []backend.Value) backend.Value { return be.Add(in[0], in[1]) },
			shapes: [][]int{{2, 3, 1}, {2, 3, 5}}},
		{name: "mul_bcast_BT1", fn: func(be backend.Backend, in []backend.Value) backend.Value { return be.Mul(in[0], in[1]) },
			shapes: [][]int{{2, 3, 1}, {2, 3, 5}}},
		{name: "mul_bcast_5d", fn: func(be backend.Backend, in []backend.Value) backend.Value { return be.Mul(in[0], in[1]) },
			shapes: [][]int{{2, 1, 3, 1, 2}, {3, 3, 1}}},
		{name: "add_scalar", fn: func(be backend.Backend, in []backend.Value) backend.Value { return be.Add(in[0], in[1]) },
			shapes: [][]int{{3, 5}, {1}}},
		{name: "add_same", fn: func(be backend.Backend, in []backend.Value) backend.Value { return be.Add(in[0], in[1]) },
			shapes: [][]int{{3, 5}, {3, 5}}},
		{name: "mul_same", fn: func(be backend.Backend, in []backend.Value) backend.Value { return be.Mul(in[0], in[1]) },
			shapes: [][]int{{3, 5}, {3, 5}}},
		{name: "linear_bias", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			return be.Linear(in[0], in[1], in[2])
		}, approx: true, shapes: [][]int{{2, 3, 5}, {7, 5}, {7}}},
		{name: "linear_nobias", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			return be.Linear(in[0], in[1], nil)
		}, approx: true, shapes: [][]int{{3, 5}, {4, 5}}},
		{name: "linear_add_bias", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			return be.(backend.ResidualLinear).LinearAdd(in[0], in[1], in[2], in[3])
		}, approx: true, shapes: [][]int{{2, 3, 5}, {7, 5}, {7}, {2, 3, 7}}},
		{name: "linear_add_nobias", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			return be.(backend.ResidualLinear).LinearAdd(in[0], in[1], nil, in[2])
		}, approx: true, shapes: [][]int{{4, 5}, {3, 5}, {4, 3}}},
		{name: "linear_multi", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			ys := backend.Linears(be, in[0], []backend.Value{in[1], in[2], in[3]}, []backend.Value{in[4], nil, in[5]})
			return be.Concat(2, ys[0], be.Mul(ys[1], ys[1]), ys[2]) // every member, non-linearly
		}, approx: true, shapes: [][]int{{2, 3, 5}, {4, 5}, {2, 5}, {3, 5}, {4}, {3}}},
		{name: "linear_multi_nobias", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			ys := backend.Linears(be, in[0], []backend.Value{in[1], in[2]}, nil)
			return be.Concat(1, ys[0], ys[1])
		}, approx: true, shapes: [][]int{{3, 5}, {4, 5}, {2, 5}}},
		{name: "gated_pair_silu", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			gu := backend.Linears(be, in[0], []backend.Value{in[1], in[2]}, nil)
			return be.(backend.GatedActivator).GatedActivation(gu[0], gu[1], backend.ActSiLU)
		}, approx: true, shapes: [][]int{{2, 3, 5}, {9, 5}, {9, 5}}},
		{name: "gated_pair_gelu", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			gu := backend.Linears(be, in[0], []backend.Value{in[1], in[2]}, nil)
			return be.(backend.GatedActivator).GatedActivation(gu[0], gu[1], backend.ActGELUTanh)
		}, approx: true, shapes: [][]int{{4, 5}, {3, 5}, {3, 5}}},
		{name: "matmul_3d", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			return be.MatMul(in[0], in[1], false)
		}, approx: true, shapes: [][]int{{3, 4, 5}, {3, 5, 2}}},
		{name: "matmul_4d_transB", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			return be.MatMul(in[0], in[1], true)
		}, approx: true, shapes: [][]int{{2, 3, 4, 5}, {2, 3, 7, 5}}},
		{name: "matmul_2d", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			return be.MatMul(in[0], in[1], false)
		}, approx: true, shapes: [][]int{{3, 5}, {5, 2}}},
		{name: "transpose_slice_concat", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			x := be.Transpose(in[0], 0, 2, 1, 3)         // [2, 5, 3, 4]
			a := be.Slice(x, 1, 1, 4)                    // [2, 3, 3, 4]
			c := be.Slice(x, 3, 2, 3)                    // [2, 5, 3, 1]
			return be.Concat(3, be.Slice(c, 1, 0, 3), a) // [2, 3, 3, 5]
		}, shapes: [][]int{{2, 3, 5, 4}}},
		{name: "concat_axis0_three", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			return be.Concat(0, in[0], be.Mul(in[1], in[1]), in[2]) // [2+1+3, 4, 2]
		}, shapes: [][]int{{2, 4, 2}, {1, 4, 2}, {3, 4, 2}}},
		{name: "concat_last", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			return be.Mul(be.Concat(-1, in[0], in[1]), in[2]) // [3, 2+5]
		}, shapes: [][]int{{3, 2}, {3, 5}, {3, 7}}},
		{name: "transpose_heads", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			return be.Transpose(in[0], 0, 2, 1, 3)
		}, shapes: [][]int{{2, 3, 4, 5}}},
		{name: "transpose_last", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			return be.Mul(be.Transpose(in[0], 2, 0, 1), in[1])
		}, shapes: [][]int{{2, 3, 4}, {4, 2, 3}}},
		{name: "embedding", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			return be.Embedding(in[0], []int{4, 0, 4, 2})
		}, shapes: [][]int{{5, 3}}},
		{name: "attention_causal_gqa", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			return be.Attention(in[0], in[1], in[2], backend.AttnOpts{Causal: true})
		}, approx: true, shapes: [][]int{{2, 6, 3, 4}, {2, 2, 3, 4}, {2, 2, 3, 4}}},
		{name: "attention_mask_scale", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			return be.Attention(in[0], in[1], in[2], backend.AttnOpts{Mask: in[3], Scale: 0.7})
		}, approx: true, shapes: [][]int{{2, 2, 3, 4}, {2, 1, 5, 4}, {2, 1, 5, 4}, {2, 1, 3, 5}}, frozen: []int{3}},
		{name: "attention_causal_prefix", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			return be.Attention(in[0], in[1], in[2], backend.AttnOpts{Causal: true, Mask: in[3]})
		}, approx: true, shapes: [][]int{{1, 3, 2, 4}, {1, 3, 5, 4}, {1, 3, 5, 4}, {1, 3, 2, 5}}, frozen: []int{3}},
		// More query rows than attnRowBlock: several causal blocks, one of
		// them (more queries than keys) fully masked.
		{name: "attention_causal_blocks", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			return be.Attention(in[0], in[1], in[2], backend.AttnOpts{Causal: true})
		}, approx: true, shapes: [][]int{{1, 2, 30, 4}, {1, 1, 30, 4}, {1, 1, 30, 4}}},
		{name: "attention_causal_blocks_prefix", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			return be.(backend.MergedAttention).AttentionMerged(in[0], in[1], in[2], backend.AttnOpts{Causal: true, Mask: in[3]})
		}, approx: true, shapes: [][]int{{1, 2, 26, 3}, {1, 2, 50, 3}, {1, 2, 50, 3}, {1, 1, 26, 50}}, frozen: []int{3}},
		{name: "attention_causal_blocks_masked_rows", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			return be.Attention(in[0], in[1], in[2], backend.AttnOpts{Causal: true})
		}, approx: true, shapes: [][]int{{1, 1, 50, 3}, {1, 1, 20, 3}, {1, 1, 20, 3}}},
		{name: "split_heads_rope", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			return be.(backend.HeadSplitter).SplitHeadsRoPE(in[0], 2, []int{0, 3, 7}, rope)
		}, shapes: [][]int{{2, 3, 12}}},
		{name: "split_heads_plain", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			return be.(backend.HeadSplitter).SplitHeadsRoPE(in[0], 3, nil, nil)
		}, shapes: [][]int{{2, 4, 6}}},
		{name: "attention_merged_causal_gqa", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			return be.(backend.MergedAttention).AttentionMerged(in[0], in[1], in[2], backend.AttnOpts{Causal: true})
		}, approx: true, shapes: [][]int{{2, 4, 5, 3}, {2, 2, 5, 3}, {2, 2, 5, 3}}},
		{name: "attention_merged_mask", fn: func(be backend.Backend, in []backend.Value) backend.Value {
			return be.(backend.MergedAttention).AttentionMerged(in[0], in[1], in[2], backend.AttnOpts{Mask: in[3], Causal: true})
		}, approx: true, shapes: [][]int{{1, 2, 3, 4}, {1, 1, 4, 4}, {1, 1, 4, 4}, {1, 2, 3, 4}}, frozen: []int{3}},
	}
	for _, act := range []backend.Act{backend.ActGELU, backend.ActGELUTanh, backend.ActQuickGELU, backend.ActSiLU,
		backend.ActReLU, backend.ActTanh, backend.ActSigmoid} {
		act := act
		cases = append(cases, opCase{name: "gated_" + act.String(), fn: func(be backend.Backend, in []backend.Value) backend.Value {
			return be.(backend.GatedActivator).GatedActivation(in[0], in[1], act)
		}, shapes: [][]int{{3, 7}, {3, 7}}, scale: 3})
		cases = append(cases, opCase{name: "act_" + act.String(), fn: func(be backend.Backend, in []backend.Value) backend.Value {
			return be.Activation(in[0], act)
		}, shapes: [][]int{{3, 7}}, scale: 3})
	}
	return cases
}

func inputsFor(rng *rand.Rand, c opCase) []*ft.Tensor {
	scale := c.scale
	if scale == 0 {
		scale = 1
	}
	in := make([]*ft.Tensor, len(c.shapes))
	for i, s := range c.shapes {
		in[i] = randTensor(rng, scale, s...)
	}
	return in
}

// eachOpCase runs check as a subtest per op case, with inputs drawn from
// a generator seeded by seed.
func eachOpCase(t *testing.T, seed uint64, check func(t *testing.T, c opCase, in []*ft.Tensor)) {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	for _, c := range opCases(t) {
		in := inputsFor(rng, c)
		t.Run(c.name, func(t *testing.T) { check(t, c, in) })
	}
}

func TestGradients(t *testing.T) {
	eachOpCase(t, 1, func(t *testing.T, c opCase, in []*ft.Tensor) {
		rel := gradCheck(t, c.fn, c.frozen, in...)
		t.Logf("max relative gradient error %.3g", rel)
		require.Less(t, rel, gradTol)
	})
}

// TestEagerParity: ops whose float32 forward calls the eager kernels
// (internal/blas softmax, norms and activations; RoPE, broadcasting,
// data movement) match Eager bit for bit; the approx ones to parityTol.
func TestEagerParity(t *testing.T) {
	eachOpCase(t, 3, func(t *testing.T, c opCase, in []*ft.Tensor) {
		if !c.approx {
			requireBitIdentical(t, c.fn, in...)
			return
		}
		d := parity(t, c.fn, in...)
		t.Logf("max |eager − graph| %.3g", d)
		require.LessOrEqual(t, d, parityTol)
	})
}

// TestFloat64MatchesEager: the float64 reference forward (what the
// gradient checks differentiate) computes the same function as the
// float32 kernels training runs, op by op.
func TestFloat64MatchesEager(t *testing.T) {
	eachOpCase(t, 5, func(t *testing.T, c opCase, in []*ft.Tensor) {
		want := runEager(c.fn, in...)
		be, y := runGraphWith(t, graph.Options{Float64: true}, c.fn, in...)
		got, err := be.ReadFloat64(y)
		require.NoError(t, err)
		require.Len(t, got, len(want.Data))
		worst := 0.0
		for i, w := range want.Data {
			worst = max(worst, math.Abs(float64(w)-got[i]))
		}
		t.Logf("max |eager(f32) − graph(f64)| %.3g", worst)
		require.LessOrEqual(t, worst, refTol)
	})
}

func TestSoftmaxStableAndMaskedRows(t *testing.T) {
	x := ft.FromData([]float32{0, 0, 100, 0, 3, -1e30, float32(-1e38), 1e30, 5, 1e4, 1e4, -1e4}, 4, 3)
	neg := float32(negInf())
	x.Data[6] = neg
	all := ft.FromData([]float32{neg, neg, neg}, 1, 3)
	for _, in := range []*ft.Tensor{x, all} {
		requireBitIdentical(t, func(be backend.Backend, v []backend.Value) backend.Value { return be.Softmax(v[0]) }, in)
	}
	// Independent expectations for the fully masked row.
	be, y := runGraph(t, func(be backend.Backend, v []backend.Value) backend.Value { return be.Softmax(v[0]) }, all)
	got, err := be.Read(y)
	require.NoError(t, err)
	require.Equal(t, []float32{0, 0, 0}, got.Data)
}

func TestAttentionCachePanics(t *testing.T) {
	require.PanicsWithValue(t, "graph.Attention: a KV cache is not supported by the graph backend (train on whole sequences)", func() {
		be := newGraph()
		q := be.Const(ft.New(1, 1, 1, 2))
		be.Attention(q, q, q, backend.AttnOpts{Cache: backend.NewKVCache(1, 1, 2)})
	})
}

// Two RoPE nodes on the same input with different positions (or
// frequencies) must not be merged by gorgonia's hash-consing.
func TestHashIncludesParameters(t *testing.T) {
	be := newGraph()
	x := be.Const(ft.New(1, 1, 2, 4))
	r1 := mustRoPE(t, 4, nil)
	r2, err := backend.NewRoPE(4, 500, nil)
	require.NoError(t, err)
	a := be.RoPE(x, []int{0, 1}, r1)
	require.Same(t, a, be.RoPE(x, []int{0, 1}, r1), "identical ops should merge")
	require.NotSame(t, a, be.RoPE(x, []int{0, 2}, r1))
	require.NotSame(t, a, be.RoPE(x, []int{0, 1}, r2))
	require.NotSame(t, be.Activation(x, backend.ActGELU), be.Activation(x, backend.ActGELUTanh))
	require.NotSame(t, be.Scale(x, 2), be.Scale(x, 3))
	require.NotSame(t, be.RMSNorm(x, be.Const(ft.New(4)), 1e-5), be.RMSNorm(x, be.Const(ft.New(4)), 1e-6))
	l := be.Const(ft.New(2, 3))
	require.NotSame(t, be.CrossEntropy(l, []int{0, 1}, -100), be.CrossEntropy(l, []int{0, 1}, 1))
}

func TestCrossEntropy(t *testing.T) {
	logits := ft.FromData([]float32{1, 2, 3, 0, 0, 0, 5, -5, 0, 2, 2, 2}, 2, 2, 3)
	targets := []int{2, -100, 0, 1}
	// Independent expectation: −log softmax at the target, averaged over 3 rows.
	want := (logSoftmaxNeg([]float64{1, 2, 3}, 2) + logSoftmaxNeg([]float64{5, -5, 0}, 0) + logSoftmaxNeg([]float64{2, 2, 2}, 1)) / 3
	be := newGraph()
	loss := be.CrossEntropy(be.Const(logits), targets, -100)
	m, err := be.Compile()
	require.NoError(t, err)
	require.NoError(t, m.Run(t.Context()))
	got, err := be.Read(loss)
	require.NoError(t, err)
	require.Empty(t, got.Shape)
	require.InDelta(t, want, got.Data[0], 1e-6)

	require.ErrorContains(t, be.SetTargets(loss, []int{0, 1, 3, 0}), "id 3 at 2 outside [0, 3)")
	require.ErrorContains(t, be.SetTargets(loss, []int{0}), "1 ids, graph built for 4")
	require.NoError(t, be.SetTargets(loss, []int{-100, -100, -100, 1}))
	require.NoError(t, m.Run(t.Context()))
	got, err = be.Read(loss)
	require.NoError(t, err)
	require.InDelta(t, logSoftmaxNeg([]float64{2, 2, 2}, 1), got.Data[0], 1e-6)

	rng := rand.New(rand.NewPCG(9, 9))
	rel := gradCheck(t, func(be backend.Backend, in []backend.Value) backend.Value {
		return be.(interface {
			CrossEntropy(backend.Value, []int, int) backend.Value
		}).CrossEntropy(in[0], []int{4, -1, 0, 3, 3, 1}, -1)
	}, nil, randTensor(rng, 2, 2, 3, 5))
	t.Logf("cross-entropy max relative gradient error %.3g", rel)
	require.Less(t, rel, gradTol)
}

func TestShapeErrorsPanicWithShapes(t *testing.T) {
	be := newGraph()
	x := be.Const(ft.New(2, 3))
	require.PanicsWithValue(t, "graph.Linear: x [2 3], w [4 5]", func() { be.Linear(x, be.Const(ft.New(4, 5)), nil) })
	require.Panics(t, func() { be.Add(x, be.Const(ft.New(4))) })
	require.PanicsWithValue(t, "graph.Embedding: id 9 at 0 outside [0, 2)", func() { be.Embedding(x, []int{9}) })
	require.Panics(t, func() { be.RoPE(x, []int{0}, mustRoPE(t, 4, nil)) })
	require.Equal(t, fmt.Sprint([]int{2, 3}), fmt.Sprint(be.Shape(x)))
}

// analyticGrads builds fn on a graph made with opt (every input a weight,
// the frozen ones not trainable), takes loss = Σ y ⊙ R and returns the
// gradient of every trainable input after one run, as float64.
func analyticGrads(t *testing.T, opt graph.Options, fn builder, frozen []int, r *ft.Tensor, inputs ...*ft.Tensor) [][]float64 {
	t.Helper()
	fixed := map[*ft.Tensor]bool{}
	for _, i := range frozen {
		fixed[inputs[i]] = true
	}
	opt.Trainable = func(w *ft.Tensor) bool { return !fixed[w] }
	be := graph.New(opt)
	vals := make([]backend.Value, len(inputs))
	for i, x := range inputs {
		vals[i] = be.Weight(x)
	}
	y := be.Node(fn(be, vals))
	loss := y
	if !y.IsScalar() {
		var err error
		loss, err = gorgonia.Sum(gorgonia.Must(gorgonia.HadamardProd(y, be.Node(be.Const(r)))))
		require.NoError(t, err)
	}
	require.NoError(t, be.Backward(loss))
	m, err := be.Compile()
	require.NoError(t, err)
	defer m.Close()
	// Two runs: the second reuses every op's buffers.
	require.NoError(t, m.Run(t.Context()))
	require.NoError(t, m.Run(t.Context()))
	var out [][]float64
	for _, p := range be.Params() {
		g, err := p.Grad()
		require.NoError(t, err)
		row := make([]float64, len(g.Data))
		for i, v := range g.Data {
			row[i] = float64(v)
		}
		if opt.Float64 {
			gv, err := p.Node.Grad()
			require.NoError(t, err)
			copy(row, gv.Data().([]float64))
		}
		out = append(out, row)
	}
	return out
}

// TestFloat32GradientsMatchFloat64: the float32 backward kernels training
// runs (sgemm with transposed operands, vector exp, fused attention)
// against the float64 reference backward passes that TestGradients checks
// by finite differences.
func TestFloat32GradientsMatchFloat64(t *testing.T) {
	eachOpCase(t, 11, func(t *testing.T, c opCase, in []*ft.Tensor) {
		probe := graph.New(graph.Options{})
		vals := make([]backend.Value, len(in))
		for i, x := range in {
			vals[i] = probe.Const(x)
		}
		r := randTensor(rand.New(rand.NewPCG(3, 4)), 1, probe.Shape(c.fn(probe, vals))...)
		want := analyticGrads(t, graph.Options{Float64: true}, c.fn, c.frozen, r, in...)
		got := analyticGrads(t, graph.Options{}, c.fn, c.frozen, r, in...)
		require.Len(t, got, len(want))
		worst := 0.0
		for p := range want {
			var num, den float64
			for i, w := range want[p] {
				num += (got[p][i] - w) * (got[p][i] - w)
				den += w * w
			}
			worst = max(worst, math.Sqrt(num)/max(math.Sqrt(den), 1e-12))
		}
		t.Logf("max relative |float32 − float64| gradient %.3g", worst)
		require.Less(t, worst, 1e-5)
	})
}

// TestCrossEntropyFloat32MatchesFloat64: the float32 loss and gradient
// (vector exp, kept probabilities) against the float64 reference forms,
// on rows wider than the vector kernels' lanes, with ignored rows.
func TestCrossEntropyFloat32MatchesFloat64(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	logits := randTensor(rng, 8, 3, 4, 37)
	targets := []int{0, 36, -1, 5, 17, 17, -1, 2, 30, 1, 0, 9}
	fn := func(be backend.Backend, in []backend.Value) backend.Value {
		return be.(*graph.Backend).CrossEntropy(in[0], targets, -1)
	}
	want := analyticGrads(t, graph.Options{Float64: true}, fn, nil, nil, logits)
	got := analyticGrads(t, graph.Options{}, fn, nil, nil, logits)
	var num, den float64
	for i, w := range want[0] {
		num += (got[0][i] - w) * (got[0][i] - w)
		den += w * w
	}
	require.Greater(t, den, 0.0)
	require.Less(t, math.Sqrt(num/den), 1e-5)
	for _, opt := range []graph.Options{{}, {Float64: true}} {
		be, y := runGraphWith(t, opt, fn, logits)
		l, err := be.Read(y)
		require.NoError(t, err)
		require.InDelta(t, crossEntropyRef(logits, targets, -1), l.Data[0], 1e-5)
	}
}

// TestGatedPairReadsTheProduct: the gate/up halves of one LinearMulti go
// into one GatedPair node (one gradient buffer, no zero-padded halves).
func TestGatedPairReadsTheProduct(t *testing.T) {
	be := newGraph()
	x := be.Const(ft.New(2, 4))
	gu := backend.Linears(be, x, []backend.Value{be.Const(ft.New(3, 4)), be.Const(ft.New(3, 4))}, nil)
	y := be.Node(be.GatedActivation(gu[0], gu[1], backend.ActSiLU))
	require.Contains(t, y.Op().String(), "GatedPair")
	swapped := be.Node(be.GatedActivation(gu[1], gu[0], backend.ActSiLU))
	require.Contains(t, swapped.Op().String(), "GatedActivation")
}
