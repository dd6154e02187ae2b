package graph_test

import (
	"context"
	"math"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"gorgonia.org/gorgonia"

	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/backend/graph"
	"github.com/fovea-ml/fovea/internal/config"
	ft "github.com/fovea-ml/fovea/internal/tensor"
	"github.com/fovea-ml/fovea/internal/weights"
)

const replicaIgnore = -100

// replicaDecoder is a tiny Llama (grouped-query attention, SwiGLU, the
// fused q/k/v and gate/up products) with seeded random weights: two calls
// give identical models.
func replicaDecoder(t testing.TB) *decoder.Model {
	t.Helper()
	cfg := config.DefaultLlama()
	cfg.VocabSize, cfg.HiddenSize, cfg.IntermediateSize = 29, 16, 24
	cfg.NumHiddenLayers, cfg.NumAttentionHeads, cfg.NumKeyValueHeads = 2, 4, 2
	cfg.MaxPositionEmbeddings = 32
	cfg.BOSTokenID, cfg.EOSTokenID, cfg.PadTokenID = nil, nil, nil
	m, err := decoder.New(&cfg)
	require.NoError(t, err)
	parts := []any{m.EmbedTokens, m.Norm, m.LMHead}
	for _, l := range m.Layers {
		parts = append(parts, l)
	}
	require.NoError(t, weights.Randomize(7, 0.3, parts...))
	return m
}

// replicaBatch is 5 rows of 6 tokens whose targets are ignored unevenly:
// rows 0–1 (shard 0 of 2) keep 3 targets, rows 2–4 (shard 1) keep 9.
func replicaBatch() (ids [][]int, targets []int) {
	const rows, seq, vocab = 5, 6, 29
	for r := range rows {
		row := make([]int, seq)
		for j := range row {
			row[j] = (7*r + 3*j + 1) % vocab
			tg := (5*r + 2*j + 3) % vocab
			if (r < 3 && (j+r)%4 != 0) || (r >= 3 && j%3 == 2) {
				tg = replicaIgnore
			}
			targets = append(targets, tg)
		}
		ids = append(ids, row)
	}
	return ids, targets
}

// shardRows splits rows into n contiguous shards, the first ones larger.
func shardRows(rows, n, s int) (lo, hi int) { return rows * s / n, rows * (s + 1) / n }

// decoderLoss builds the CrossEntropy of m on rows [lo, hi) of the batch.
func decoderLoss(be *graph.Backend, m *decoder.Model, ids [][]int, targets []int, lo, hi int) (backend.Value, error) {
	seq := len(ids[0])
	x, err := m.Embed(be, ids[lo:hi])
	if err != nil {
		return nil, err
	}
	logits, err := m.Forward(be, x, m.NewTrainState(hi-lo))
	if err != nil {
		return nil, err
	}
	return be.CrossEntropy(logits, targets[lo*seq:hi*seq], replicaIgnore), nil
}

// frozenEmbed freezes the token embedding, the LM head (a Linear) and
// layer 0's q/k/v (a LinearMulti): those are packed once, get no gradient.
func frozenEmbed(m *decoder.Model) func(*ft.Tensor) bool {
	frozen := frozenSet(m)
	return func(t *ft.Tensor) bool { return !frozen[t] }
}

func frozenSet(m *decoder.Model) map[*ft.Tensor]bool {
	a := m.Layers[0].(*decoder.Block).Attn
	return map[*ft.Tensor]bool{m.EmbedTokens: true, m.LMHead: true, a.Q: true, a.K: true, a.V: true}
}

// singleStep runs the 1-graph step: loss, gradients (copies) and the
// weights after one AdamW step.
func singleStep(t *testing.T, f64 bool) (loss float64, grads [][]float64, after [][]float32) {
	m := replicaDecoder(t)
	ids, targets := replicaBatch()
	be := graph.New(graph.Options{Float64: f64, Trainable: frozenEmbed(m)})
	l, err := decoderLoss(be, m, ids, targets, 0, len(ids))
	require.NoError(t, err)
	require.NoError(t, be.Backward(l))
	mach, err := be.Compile()
	require.NoError(t, err)
	defer mach.Close()
	require.NoError(t, mach.Run(context.Background()))
	lv, err := be.ReadFloat64(l)
	if !f64 {
		v, err2 := be.Read(l)
		require.NoError(t, err2)
		lv, err = []float64{float64(v.Data[0])}, nil
	}
	require.NoError(t, err)
	grads = gradValues(t, be.Params())
	require.NoError(t, graph.NewAdamW(1e-2, 0.01).Step(be.Params()))
	for _, p := range be.Params() {
		after = append(after, append([]float32(nil), p.Tensor.Data...))
	}
	return lv[0], grads, after
}

// newDecoderReplicas builds n replicas of the decoder step on m.
func newDecoderReplicas(t testing.TB, m *decoder.Model, n int, f64 bool) *graph.Replicas {
	ids, targets := replicaBatch()
	r, err := graph.NewReplicas(n, graph.Options{Float64: f64, Trainable: frozenEmbed(m)}, func(be *graph.Backend, s int) (backend.Value, error) {
		lo, hi := shardRows(len(ids), n, s)
		return decoderLoss(be, m, ids, targets, lo, hi)
	})
	require.NoError(t, err)
	return r
}

// gradValues copies the gradients of ps in the graph's precision.
func gradValues(t testing.TB, ps []graph.Param) [][]float64 {
	var out [][]float64
	for _, p := range ps {
		g, err := p.Node.Grad()
		require.NoError(t, err)
		var row []float64
		switch d := g.Data().(type) {
		case []float32:
			for _, v := range d {
				row = append(row, float64(v))
			}
		case []float64:
			row = append(row, d...)
		default:
			t.Fatalf("gradient of %T", d)
		}
		out = append(out, row)
	}
	return out
}

func replicaGrads(t testing.TB, r *graph.Replicas) [][]float64 { return gradValues(t, r.Params()) }

func maxAbsDiffs[F float32 | float64](a, b [][]F) float64 {
	worst := 0.0
	for i := range a {
		for j := range a[i] {
			worst = max(worst, math.Abs(float64(a[i][j])-float64(b[i][j])))
		}
	}
	return worst
}

// TestReplicasMatchSingleGraph: the gradients of a 2- and 3-replica run
// (uneven rows, unevenly ignored targets) equal the one-graph run's, and
// so do the weights after an AdamW step.
func TestReplicasMatchSingleGraph(t *testing.T) {
	for _, tc := range []struct {
		f64       bool
		tol, wtol float64
	}{
		// AdamW's first step moves each weight by about lr·sign(g), so a
		// gradient near 0 amplifies rounding: the weights are compared
		// to 1e-3 of the learning rate.
		{false, 2e-6, 1e-5}, {true, 1e-12, 1e-6},
	} {
		wantLoss, want, wantAfter := singleStep(t, tc.f64)
		for _, n := range []int{2, 3} {
			m := replicaDecoder(t)
			r := newDecoderReplicas(t, m, n, tc.f64)
			require.NoError(t, r.Run(context.Background()))
			w := r.Weights()
			if n == 2 {
				require.InDelta(t, 3.0/12, w[0], 1e-15, "shard 0 holds 3 of the 12 targets")
				require.InDelta(t, 9.0/12, w[1], 1e-15)
			}
			require.InDelta(t, wantLoss, r.Loss(), 1e-5, "loss of the whole batch")
			got := replicaGrads(t, r)
			require.Len(t, got, len(want))
			d := maxAbsDiffs(want, got)
			t.Logf("float64=%v, %d replicas: max |Δ gradient| %.3g, max |g| %.3g", tc.f64, n, d, maxAbsDiffs(want, make0(want)))
			require.Less(t, d, tc.tol)
			require.NoError(t, graph.NewAdamW(1e-2, 0.01).Step(r.Params()))
			var after [][]float32
			for _, p := range r.Params() {
				after = append(after, p.Tensor.Data)
			}
			require.Less(t, maxAbsDiffs(wantAfter, after), tc.wtol, "weights after one AdamW step")
			require.NoError(t, r.Close())
		}
	}
}

func make0(a [][]float64) [][]float64 {
	out := make([][]float64, len(a))
	for i := range a {
		out[i] = make([]float64, len(a[i]))
	}
	return out
}

// TestReplicasDeterministic: three steps give bit-identical weights with
// GOMAXPROCS 1 and 2 (the replicas and the reduction never sum in an
// order that depends on the threads). Run with -race, it also checks the
// replicas sharing one set of weights side by side.
func TestReplicasDeterministic(t *testing.T) {
	run := func(procs int) [][]float32 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		m := replicaDecoder(t)
		r := newDecoderReplicas(t, m, 2, false)
		defer r.Close()
		opt := graph.NewAdamW(1e-2, 0.01)
		opt.MaxGradNorm = 0.5
		for range 3 {
			require.NoError(t, r.Run(context.Background()))
			require.NoError(t, opt.Step(r.Params()))
		}
		var out [][]float32
		for _, p := range r.Params() {
			out = append(out, p.Tensor.Data)
		}
		return out
	}
	a, b := run(1), run(2)
	require.Equal(t, a, b)
}

// TestReplicasRefreshFrozen: after a frozen weight changes in place,
// RefreshFrozen makes every replica use the new values.
func TestReplicasRefreshFrozen(t *testing.T) {
	m := replicaDecoder(t)
	r := newDecoderReplicas(t, m, 2, false)
	defer r.Close()
	ctx := context.Background()
	require.NoError(t, r.Run(ctx))
	for w := range frozenSet(m) {
		for i := range w.Data {
			w.Data[i] *= -1.5
		}
	}
	r.RefreshFrozen()
	require.NoError(t, r.Run(ctx))
	got := replicaGrads(t, r)

	fresh := newDecoderReplicas(t, m, 2, false) // packs the changed table
	defer fresh.Close()
	require.NoError(t, fresh.Run(ctx))
	require.Equal(t, replicaGrads(t, fresh), got)
	require.InDelta(t, fresh.Loss(), r.Loss(), 0)
}

// TestReplicasErrors: bad counts, a loss that is not a CrossEntropy
// without weights, and shards with different parameters are errors.
func TestReplicasErrors(t *testing.T) {
	m := replicaDecoder(t)
	ids, _ := replicaBatch()
	_, err := graph.NewReplicas(0, graph.Options{}, nil)
	require.ErrorContains(t, err, "0 replicas")
	sum := func(be *graph.Backend, s int) (backend.Value, error) {
		x, err := m.Embed(be, ids[s:s+1])
		if err != nil {
			return nil, err
		}
		y, err := m.Forward(be, x, m.NewTrainState(1))
		if err != nil {
			return nil, err
		}
		return gorgonia.Sum(be.Node(y))
	}
	r, err := graph.NewReplicas(2, graph.Options{}, sum)
	require.NoError(t, err)
	defer r.Close()
	require.ErrorContains(t, r.Run(context.Background()), "not a CrossEntropy")
	require.ErrorContains(t, r.SetWeights([]float64{1}), "1 weights for 2 replicas")
	require.ErrorContains(t, r.SetWeights([]float64{1, math.NaN()}), "weight 1 is NaN")
	require.NoError(t, r.SetWeights([]float64{0.5, 0.5}))
	require.NoError(t, r.Run(context.Background()))

	other := func(be *graph.Backend, s int) (backend.Value, error) {
		if s == 1 {
			return gorgonia.Sum(be.Node(be.Weight(m.Norm)))
		}
		return sum(be, s)
	}
	_, err = graph.NewReplicas(2, graph.Options{}, other)
	require.ErrorContains(t, err, "shard 1")
}

// TestReplicasStepsMatchSingleGraph: over several AdamW steps (the shared
// packing of the trainable weights is redone every Run) the replicas'
// losses follow the one-graph run's.
func TestReplicasStepsMatchSingleGraph(t *testing.T) {
	ctx := context.Background()
	ids, targets := replicaBatch()
	ma := replicaDecoder(t)
	be := graph.New(graph.Options{Trainable: frozenEmbed(ma)})
	l, err := decoderLoss(be, ma, ids, targets, 0, len(ids))
	require.NoError(t, err)
	require.NoError(t, be.Backward(l))
	mach, err := be.Compile()
	require.NoError(t, err)
	defer mach.Close()
	r := newDecoderReplicas(t, replicaDecoder(t), 2, false)
	defer r.Close()
	oa, ob := graph.NewAdamW(3e-2, 0.01), graph.NewAdamW(3e-2, 0.01)
	for step := range 4 {
		require.NoError(t, mach.Run(ctx))
		la, err := be.Read(l)
		require.NoError(t, err)
		require.NoError(t, r.Run(ctx))
		require.InDelta(t, float64(la.Data[0]), r.Loss(), 1e-5, "step %d", step+1)
		require.NoError(t, oa.Step(be.Params()))
		require.NoError(t, ob.Step(r.Params()))
	}
}

// TestReplicasForwardOnly: with nothing trainable (an evaluation pass) the
// replicas compile without gradients, as one graph does, and their loss
// is the whole batch's.
func TestReplicasForwardOnly(t *testing.T) {
	wantLoss, _, _ := singleStep(t, false)
	m := replicaDecoder(t)
	ids, targets := replicaBatch()
	r, err := graph.NewReplicas(2, graph.Options{Trainable: func(*ft.Tensor) bool { return false }},
		func(be *graph.Backend, s int) (backend.Value, error) {
			lo, hi := shardRows(len(ids), 2, s)
			return decoderLoss(be, m, ids, targets, lo, hi)
		})
	require.NoError(t, err)
	defer r.Close()
	require.Empty(t, r.Params())
	require.NoError(t, r.Run(context.Background()))
	require.InDelta(t, wantLoss, r.Loss(), 1e-5)
}
