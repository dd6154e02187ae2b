package graph_test

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gorgonia.org/gorgonia"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/backend/graph"
	ft "github.com/fovea-ml/fovea/internal/tensor"
)

// tinyCfg is the geometry of the test transformer block (odd-ish sizes,
// grouped-query attention with 2 query heads per kv head).
type tinyCfg struct {
	D, H, KVH, Dh, FF, V int
	Eps                  float32
}

var tiny = tinyCfg{D: 12, H: 4, KVH: 2, Dh: 4, FF: 20, V: 11, Eps: 1e-5}

type blockWeights struct {
	norm1, wq, wk, wv, wo, norm2, gate, up, down *ft.Tensor
	emb, normF                                   *ft.Tensor // embedding, tied with the LM head
}

func newBlockWeights(rng *rand.Rand, c tinyCfg) *blockWeights {
	ones := func(n int) *ft.Tensor {
		t := randTensor(rng, 0.1, n)
		for i := range t.Data {
			t.Data[i]++
		}
		return t
	}
	s := float32(1 / math.Sqrt(float64(c.D)))
	return &blockWeights{
		norm1: ones(c.D), norm2: ones(c.D), normF: ones(c.D),
		wq: randTensor(rng, s, c.H*c.Dh, c.D), wk: randTensor(rng, s, c.KVH*c.Dh, c.D),
		wv: randTensor(rng, s, c.KVH*c.Dh, c.D), wo: randTensor(rng, s, c.D, c.H*c.Dh),
		gate: randTensor(rng, s, c.FF, c.D), up: randTensor(rng, s, c.FF, c.D),
		down: randTensor(rng, float32(1/math.Sqrt(float64(c.FF))), c.D, c.FF),
		emb:  randTensor(rng, 0.5, c.V, c.D),
	}
}

// block is a pre-norm decoder block written ONCE against backend.Backend:
// RMSNorm → q/k/v Linear → RoPE → causal GQA Attention → o Linear →
// residual → RMSNorm → SwiGLU MLP → residual. x [B, T, D] → [B, T, D].
func block(be backend.Backend, w *blockWeights, c tinyCfg, rope *backend.RoPE, x backend.Value) backend.Value {
	return blockAt(be, w, c, rope, x, 0, nil)
}

// blockAt is block for tokens at positions start… with an optional KV
// cache (Eager only) holding the earlier positions.
func blockAt(be backend.Backend, w *blockWeights, c tinyCfg, rope *backend.RoPE, x backend.Value, start int, cache *backend.KVCache) backend.Value {
	s := be.Shape(x)
	b, t := s[0], s[1]
	pos := make([]int, t)
	for i := range pos {
		pos[i] = start + i
	}
	heads := func(v backend.Value, n int) backend.Value {
		return be.Transpose(be.Reshape(v, b, t, n, c.Dh), 0, 2, 1, 3) // [B, n, T, Dh]
	}
	h := be.RMSNorm(x, be.Weight(w.norm1), c.Eps)                             // [B, T, D]
	q := be.RoPE(heads(be.Linear(h, be.Weight(w.wq), nil), c.H), pos, rope)   // [B, H, T, Dh]
	k := be.RoPE(heads(be.Linear(h, be.Weight(w.wk), nil), c.KVH), pos, rope) // [B, KVH, T, Dh]
	v := heads(be.Linear(h, be.Weight(w.wv), nil), c.KVH)                     // [B, KVH, T, Dh]
	a := be.Attention(q, k, v, backend.AttnOpts{Causal: true, Cache: cache})  // [B, H, T, Dh]
	a = be.Reshape(be.Transpose(a, 0, 2, 1, 3), b, t, c.H*c.Dh)               // [B, T, H·Dh]
	x = be.Add(x, be.Linear(a, be.Weight(w.wo), nil))
	h = be.RMSNorm(x, be.Weight(w.norm2), c.Eps)
	g := be.Activation(be.Linear(h, be.Weight(w.gate), nil), backend.ActSiLU) // [B, T, FF]
	m := be.Linear(be.Mul(g, be.Linear(h, be.Weight(w.up), nil)), be.Weight(w.down), nil)
	return be.Add(x, m) // [B, T, D]
}

// lmLogits embeds ids [B·T], runs the block and projects with the tied
// embedding: → logits [B, T, V] and the embedding output (to rebind ids).
func lmLogits(be backend.Backend, w *blockWeights, c tinyCfg, rope *backend.RoPE, ids []int, b, t int) (logits, embedded backend.Value) {
	emb := be.Weight(w.emb)
	embedded = be.Embedding(emb, ids)                                              // [B·T, D]
	x := block(be, w, c, rope, be.Reshape(embedded, b, t, c.D))                    // [B, T, D]
	return be.Linear(be.RMSNorm(x, be.Weight(w.normF), c.Eps), emb, nil), embedded // [B, T, V]
}

func TestBlockEagerGraphParity(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	w := newBlockWeights(rng, tiny)
	rope := mustRoPE(t, tiny.Dh, nil)
	x := randTensor(rng, 1, 2, 7, tiny.D)
	want := backend.T(block(backend.Eager{}, w, tiny, rope, x))
	wqBefore, xBefore := w.wq.Clone(), x.Clone()

	be := newGraph()
	y := block(be, w, tiny, rope, be.Const(x))
	m, err := be.Compile()
	require.NoError(t, err)
	require.NoError(t, m.Run(context.Background()))
	got, err := be.Read(y)
	require.NoError(t, err)
	require.Equal(t, want.Shape, got.Shape)
	worst := 0.0
	for i := range want.Data {
		worst = max(worst, math.Abs(float64(want.Data[i]-got.Data[i])))
	}
	t.Logf("block: max |eager − graph| = %.3g", worst)
	require.LessOrEqual(t, worst, 1e-5)
	// The graph shares weight and input storage; running it must not write there.
	require.Equal(t, wqBefore.Data, w.wq.Data)
	require.Equal(t, xBefore.Data, x.Data)
}

// toyBatch is a next-token task: each sequence counts up modulo V from a
// random start, so token i+1 is predictable from token i.
func toyBatch(rng *rand.Rand, b, t, v int) (ids, targets []int) {
	for s := 0; s < b; s++ {
		start := rng.IntN(v)
		for i := 0; i < t; i++ {
			ids = append(ids, (start+i)%v)
			if i == t-1 {
				targets = append(targets, -100)
			} else {
				targets = append(targets, (start+i+1)%v)
			}
		}
	}
	return ids, targets
}

// trainer is one compiled training step for a fixed (batch, length) bucket.
type trainer struct {
	be           *graph.Backend
	m            *graph.Machine
	loss, embOut backend.Value
	opt          *graph.AdamW
}

func newTrainer(t testing.TB, w *blockWeights, rope *backend.RoPE, b, tl int, trainable func(*ft.Tensor) bool) *trainer {
	be := graph.New(graph.Options{Trainable: trainable})
	ids, targets := toyBatch(rand.New(rand.NewPCG(0, 0)), b, tl, tiny.V)
	logits, embOut := lmLogits(be, w, tiny, rope, ids, b, tl)
	loss := be.CrossEntropy(logits, targets, -100)
	require.NoError(t, be.Backward(loss))
	m, err := be.Compile()
	require.NoError(t, err)
	return &trainer{be: be, m: m, loss: loss, embOut: embOut, opt: graph.NewAdamW(0.02, 0.01)}
}

// step runs forward+backward on a batch and applies AdamW; it returns the loss.
func (tr *trainer) step(t testing.TB, ids, targets []int) float32 {
	require.NoError(t, tr.be.SetIDs(tr.embOut, ids))
	require.NoError(t, tr.be.SetTargets(tr.loss, targets))
	require.NoError(t, tr.m.Run(context.Background()))
	l, err := tr.be.Read(tr.loss)
	require.NoError(t, err)
	require.NoError(t, tr.opt.Step(tr.be.Params()))
	return l.Data[0]
}

func TestTrainingReducesLoss(t *testing.T) {
	const (
		b, tl = 3, 6
		steps = 60
	)
	rng := rand.New(rand.NewPCG(21, 22))
	w := newBlockWeights(rng, tiny)
	frozenBefore := w.norm1.Clone()
	rope := mustRoPE(t, tiny.Dh, nil)
	// norm1 frozen, as an encoder would be in stage-1 training.
	tr := newTrainer(t, w, rope, b, tl, func(x *ft.Tensor) bool { return x != w.norm1 })
	defer tr.m.Close()
	require.Len(t, tr.be.Params(), 10, "11 weight tensors, the tied embedding counted once, norm1 frozen")

	// Held-out batch to measure with the Eager backend (same weights).
	evalIDs, evalTargets := toyBatch(rng, b, tl, tiny.V)
	evalLoss := func() float64 {
		logits, _ := lmLogits(backend.Eager{}, w, tiny, rope, evalIDs, b, tl)
		return crossEntropyRef(backend.T(logits), evalTargets, -100)
	}
	before := evalLoss()
	var first, last float32
	for s := 0; s < steps; s++ {
		ids, targets := toyBatch(rng, b, tl, tiny.V)
		l := tr.step(t, ids, targets)
		if s == 0 {
			first = l
		}
		last = l
	}
	after := evalLoss()
	t.Logf("train loss %.4f → %.4f; held-out (eager) %.4f → %.4f", first, last, before, after)
	require.Less(t, after, before/2)
	require.Less(t, last, first/2)
	require.Equal(t, frozenBefore.Data, w.norm1.Data, "a frozen weight must not move")
}

// crossEntropyRef is mean −log softmax(logits)[target] in float64.
func crossEntropyRef(logits *ft.Tensor, targets []int, ignore int) float64 {
	v := logits.Dim(-1)
	total, n := 0.0, 0
	for r, tg := range targets {
		if tg == ignore {
			continue
		}
		row := make([]float64, v)
		for j := range row {
			row[j] = float64(logits.Data[r*v+j])
		}
		total += logSoftmaxNeg(row, tg)
		n++
	}
	return total / float64(n)
}

func TestAdamWTwoSteps(t *testing.T) {
	// Expected values worked out by hand from torch.optim.AdamW's update
	// (lr 0.1, wd 0.01, betas 0.9/0.999, eps 1e-8); step 1 moves each
	// weight by exactly lr after decay since |m̂|/sqrt(v̂) = 1.
	w := ft.FromData([]float32{1, -2}, 2)
	p := []graph.Param{{Tensor: w}}
	opt := graph.NewAdamW(0.1, 0.01)
	require.NoError(t, opt.Update(p, []*ft.Tensor{ft.FromData([]float32{0.5, -1}, 2)}))
	require.InDeltaSlice(t, []float32{0.899, -1.898}, w.Data, 1e-6)
	require.NoError(t, opt.Update(p, []*ft.Tensor{ft.FromData([]float32{0.1, 0.2}, 2)}))
	require.InDeltaSlice(t, []float32{0.8177969064, -1.8449993940}, w.Data, 1e-6)
	require.Equal(t, 2, opt.Steps())
	require.ErrorContains(t, opt.Update(p, nil), "0 gradients for 1 parameters")
}

func BenchmarkTrainStep(b *testing.B) {
	const bs, tl = 4, 32
	rng := rand.New(rand.NewPCG(5, 6))
	w := newBlockWeights(rng, tiny)
	tr := newTrainer(b, w, mustRoPE(b, tiny.Dh, nil), bs, tl, nil)
	defer tr.m.Close()
	ids, targets := toyBatch(rng, bs, tl, tiny.V)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tr.step(b, ids, targets)
	}
}

// A machine compiled once serves new input data bound with SetConst, and
// AdamW on a Float64 backend writes the update back into the graph.
func TestRebindAndFloat64AdamW(t *testing.T) {
	be := graph.New(graph.Options{Float64: true})
	w := ft.FromData([]float32{1, 2, 3}, 1, 3)
	x := be.Const(ft.FromData([]float32{1, 0, 0}, 1, 3))
	y := be.Linear(x, be.Weight(w), nil)                                     // [1, 1]
	loss := be.CrossEntropy(be.Concat(1, y, be.Scale(y, 0)), []int{1}, -100) // logits [y, 0]
	require.NoError(t, be.Backward(loss))
	m, err := be.Compile()
	require.NoError(t, err)
	defer m.Close()
	require.NoError(t, m.Run(t.Context()))
	l, err := be.Read(loss)
	require.NoError(t, err)
	require.InDelta(t, math.Log(1+math.E), l.Data[0], 1e-6) // −log softmax([1, 0])[1]

	require.NoError(t, be.SetConst(x, ft.FromData([]float32{0, 0, 1}, 1, 3)))
	require.ErrorContains(t, be.SetConst(x, ft.New(3)), "shape [1 3], tensor [3]")
	require.NoError(t, m.Run(t.Context()))
	l, err = be.Read(loss)
	require.NoError(t, err)
	require.InDelta(t, math.Log(1+math.Exp(3)), l.Data[0], 1e-6) // logits [3, 0]

	opt := graph.NewAdamW(0.5, 0)
	require.NoError(t, opt.Step(be.Params()))
	// Only w[2] has a gradient (x = e₂); step 1 moves it by exactly lr.
	require.InDeltaSlice(t, []float32{1, 2, 2.5}, w.Data, 1e-6)
	require.NoError(t, m.Run(t.Context()))
	l, err = be.Read(loss)
	require.NoError(t, err)
	require.InDelta(t, math.Log(1+math.Exp(2.5)), l.Data[0], 1e-6, "graph must see the updated weight")
}

// Float64 finite differences through the whole block (every weight and the
// input): checks how the custom ops compose with gorgonia's Mul,
// BatchedMatMul, Reshape and Transpose.
func TestBlockGradients(t *testing.T) {
	c := tinyCfg{D: 6, H: 4, KVH: 2, Dh: 2, FF: 5, V: 3, Eps: 1e-5}
	rng := rand.New(rand.NewPCG(31, 32))
	w := newBlockWeights(rng, c)
	rope := mustRoPE(t, c.Dh, nil)
	x := randTensor(rng, 1, 2, 3, c.D)
	all := []*ft.Tensor{x, w.norm1, w.wq, w.wk, w.wv, w.wo, w.norm2, w.gate, w.up, w.down}
	rel := gradCheck(t, func(be backend.Backend, in []backend.Value) backend.Value {
		// The weights reach block through be.Weight, which returns the
		// nodes gradCheck already made (one node per tensor).
		return block(be, w, c, rope, in[0])
	}, nil, all...)
	t.Logf("block max relative gradient error %.3g", rel)
	require.Less(t, rel, gradTol)
}

// TestFrozenWeightsGetNoGradientWork: with the weights frozen
// (Options.Trainable) and only the input trainable — stage 1 through a
// frozen decoder — the graph holds input-gradient nodes only: no dW, no
// bias or norm-weight gradient, for Linear, LinearMulti and RMSNorm; the
// input's gradient is still the full float64 reference.
func TestFrozenWeightsGetNoGradientWork(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	x := randTensor(rng, 1, 2, 3, 5)
	w1, w2, w3 := randTensor(rng, 1, 4, 5), randTensor(rng, 1, 6, 5), randTensor(rng, 1, 5, 10)
	b1, nw := randTensor(rng, 1, 4), randTensor(rng, 1, 5)
	frozen := map[*ft.Tensor]bool{w1: true, w2: true, w3: true, b1: true, nw: true}
	fn := func(be backend.Backend, in []backend.Value) backend.Value {
		ys := backend.Linears(be, be.RMSNorm(in[0], in[5], 1e-5), []backend.Value{in[1], in[2]}, []backend.Value{in[4], nil})
		return be.Linear(be.Concat(2, ys[0], ys[1]), in[3], nil)
	}
	be := graph.New(graph.Options{Trainable: func(w *ft.Tensor) bool { return !frozen[w] }})
	inputs := []*ft.Tensor{x, w1, w2, w3, b1, nw}
	vals := make([]backend.Value, len(inputs))
	for i, w := range inputs {
		vals[i] = be.Weight(w)
	}
	y := be.Node(fn(be, vals))
	loss, err := gorgonia.Sum(y)
	require.NoError(t, err)
	require.NoError(t, be.Backward(loss))
	require.Len(t, be.Params(), 1)
	grads := 0
	for _, n := range be.Graph().AllNodes() {
		if n.Op() == nil {
			continue
		}
		s := n.Op().String()
		if strings.HasPrefix(s, "∂") {
			grads++
			concat := strings.HasPrefix(s, "∂Concat") // both its inputs come from x
			require.True(t, strings.HasSuffix(s, "/∂x0") || concat && strings.HasSuffix(s, "/∂x1"), "gradient node %s of a frozen input", s)
		}
	}
	require.Equal(t, 7, grads, "one input gradient per op: RMSNorm, LinearMulti, ColSlice ×2, Concat ×2, Linear")
	rel := gradCheck(t, fn, []int{1, 2, 3, 4, 5}, inputs...)
	require.Less(t, rel, 1e-4)
}

// TestFrozenPackedMatchesTrainable: frozen weights are packed once and
// multiplied by the packed-panel sgemm; their outputs and the input
// gradient match the same float32 graph with every weight trainable
// (the unpacked path), over two runs with a new input in between.
func TestFrozenPackedMatchesTrainable(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	x := randTensor(rng, 1, 3, 17, 40)
	w1, w2, w3, w4 := randTensor(rng, 1, 24, 40), randTensor(rng, 1, 36, 40), randTensor(rng, 1, 40, 60), randTensor(rng, 1, 40, 40)
	b1 := randTensor(rng, 1, 24)
	fn := func(be backend.Backend, in []backend.Value) backend.Value {
		ys := backend.Linears(be, in[0], []backend.Value{in[1], in[2]}, []backend.Value{in[5], nil})
		h := be.Linear(be.Concat(2, ys[0], ys[1]), in[3], nil) // [3, 17, 40]
		return be.(backend.ResidualLinear).LinearAdd(h, in[4], nil, in[0])
	}
	inputs := []*ft.Tensor{x, w1, w2, w3, w4, b1}
	run := func(frozen bool) (out, grad [][]float32) {
		be := graph.New(graph.Options{Trainable: func(w *ft.Tensor) bool { return !frozen || w == x }})
		vals := make([]backend.Value, len(inputs))
		for i, w := range inputs {
			vals[i] = be.Weight(w)
		}
		y := fn(be, vals)
		loss, err := gorgonia.Sum(gorgonia.Must(gorgonia.Square(be.Node(y))))
		require.NoError(t, err)
		require.NoError(t, be.Backward(loss))
		m, err := be.Compile()
		require.NoError(t, err)
		defer m.Close()
		orig := append([]float32(nil), x.Data...)
		for step := 0; step < 2; step++ {
			copy(x.Data, orig)
			if step == 1 {
				for i := range x.Data {
					x.Data[i] *= -0.5
				}
			}
			require.NoError(t, m.Run(t.Context()))
			o, err := be.Read(y)
			require.NoError(t, err)
			g, err := be.Params()[0].Grad()
			require.NoError(t, err)
			out, grad = append(out, o.Data), append(grad, g.Data)
		}
		copy(x.Data, orig)
		return out, grad
	}
	wantOut, wantGrad := run(false)
	gotOut, gotGrad := run(true)
	for s := range wantOut {
		for i := range wantOut[s] {
			require.InDelta(t, wantOut[s][i], gotOut[s][i], 1e-4, "run %d output %d", s, i)
		}
		for i := range wantGrad[s] {
			require.InDelta(t, wantGrad[s][i], gotGrad[s][i], 1e-3*max(1, math.Abs(float64(wantGrad[s][i]))), "run %d gradient %d", s, i)
		}
	}
}

func TestRefreshFrozenRepacks(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	x, w := randTensor(rng, 1, 5, 8), randTensor(rng, 1, 6, 8)
	be := graph.New(graph.Options{Trainable: func(t *ft.Tensor) bool { return t == x }})
	y := be.Linear(be.Weight(x), be.Weight(w), nil)
	loss, err := gorgonia.Sum(be.Node(y))
	require.NoError(t, err)
	require.NoError(t, be.Backward(loss))
	m, err := be.Compile()
	require.NoError(t, err)
	defer m.Close()
	require.NoError(t, m.Run(t.Context()))
	first, err := be.Read(y)
	require.NoError(t, err)
	for i := range w.Data {
		w.Data[i] *= 2
	}
	be.RefreshFrozen()
	require.NoError(t, m.Run(t.Context()))
	second, err := be.Read(y)
	require.NoError(t, err)
	for i, v := range first.Data {
		require.InDelta(t, 2*v, second.Data[i], 1e-5)
	}
}
