package graph_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"gorgonia.org/gorgonia"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/backend/graph"
	ft "github.com/fovea-ml/fovea/internal/tensor"
)

// randTensor fills a tensor with uniform values in [-scale, scale).
func randTensor(rng *rand.Rand, scale float32, shape ...int) *ft.Tensor {
	t := ft.New(shape...)
	for i := range t.Data {
		t.Data[i] = (2*rng.Float32() - 1) * scale
	}
	return t
}

// builder is an operation under test, written against backend.Backend:
// it receives one Value per input tensor and returns the output.
type builder func(be backend.Backend, in []backend.Value) backend.Value

// gradCheck builds fn on a Float64 graph backend with every input as a
// trainable weight, takes loss = Σ y ⊙ R for a fixed random R (gorgonia's
// Sum and HadamardProd, checked correct), and compares every analytic
// gradient with central differences. It returns the worst relative error
// ‖analytic − numeric‖ / max(‖numeric‖, tiny) over the inputs.
// Inputs listed in frozen (by index) are constants, not differentiated.
func gradCheck(t *testing.T, fn builder, frozen []int, inputs ...*ft.Tensor) float64 {
	t.Helper()
	const (
		h    = 1e-6
		tiny = 1e-12
	)
	rng := rand.New(rand.NewPCG(7, 7))
	fixed := map[*ft.Tensor]bool{}
	for _, i := range frozen {
		fixed[inputs[i]] = true
	}
	be := graph.New(graph.Options{Float64: true, Trainable: func(w *ft.Tensor) bool { return !fixed[w] }})
	vals := make([]backend.Value, len(inputs))
	for i, x := range inputs {
		vals[i] = be.Weight(x)
	}
	y := be.Node(fn(be, vals))
	r := randTensor(rng, 1, be.Shape(y)...)
	var loss *gorgonia.Node
	var err error
	if y.IsScalar() {
		loss = y
	} else {
		loss, err = gorgonia.Sum(gorgonia.Must(gorgonia.HadamardProd(y, be.Node(be.Const(r)))))
		require.NoError(t, err)
	}
	require.NoError(t, be.Backward(loss))
	m, err := be.Compile()
	require.NoError(t, err)
	defer m.Close()
	ctx := context.Background()
	require.NoError(t, m.Run(ctx))
	lossAt := func() float64 {
		require.NoError(t, m.Run(ctx))
		v, err := be.ReadFloat64(loss)
		require.NoError(t, err)
		return v[0]
	}
	worst := 0.0
	for pi, p := range be.Params() {
		require.NoError(t, m.Run(ctx))
		g, err := p.Node.Grad()
		require.NoError(t, err)
		analytic := append([]float64(nil), g.Data().([]float64)...)
		x := p.Node.Value().Data().([]float64)
		var num2, diff2 float64
		for j := range x {
			orig := x[j]
			x[j] = orig + h
			up := lossAt()
			x[j] = orig - h
			down := lossAt()
			x[j] = orig
			n := (up - down) / (2 * h)
			num2 += n * n
			diff2 += (n - analytic[j]) * (n - analytic[j])
		}
		rel := math.Sqrt(diff2) / max(math.Sqrt(num2), tiny)
		require.Greater(t, num2, 0.0, "input %d: zero gradient, the check would be vacuous", pi)
		worst = max(worst, rel)
	}
	return worst
}

// runEager runs fn on Eager over constant inputs.
func runEager(fn builder, inputs ...*ft.Tensor) *ft.Tensor {
	vals := make([]backend.Value, len(inputs))
	for i, x := range inputs {
		vals[i] = backend.Eager{}.Const(x)
	}
	return backend.T(fn(backend.Eager{}, vals))
}

// eagerAndGraph runs fn on Eager and on a float32 graph backend with the
// same inputs and returns both outputs (same shape).
func eagerAndGraph(t *testing.T, fn builder, inputs ...*ft.Tensor) (want, got *ft.Tensor) {
	t.Helper()
	want = runEager(fn, inputs...)
	be, y := runGraph(t, fn, inputs...)
	got, err := be.Read(y)
	require.NoError(t, err)
	require.Equal(t, want.Shape, got.Shape)
	return want, got
}

// requireBitIdentical fails unless fn gives the same float32 bits on
// Eager and on a float32 graph (NaN, ±Inf and −0 included).
func requireBitIdentical(t *testing.T, fn builder, inputs ...*ft.Tensor) {
	t.Helper()
	want, got := eagerAndGraph(t, fn, inputs...)
	for i := range want.Data {
		require.Equal(t, math.Float32bits(want.Data[i]), math.Float32bits(got.Data[i]),
			"element %d: eager %g, graph %g", i, want.Data[i], got.Data[i])
	}
}

// parity runs fn on Eager and on a float32 graph backend with the same
// inputs and returns the largest |Δ|.
func parity(t *testing.T, fn builder, inputs ...*ft.Tensor) float64 {
	t.Helper()
	want, got := eagerAndGraph(t, fn, inputs...)
	worst := 0.0
	for i := range want.Data {
		w, g := want.Data[i], got.Data[i]
		if math.IsInf(float64(w), 0) || math.IsNaN(float64(w)) {
			require.Equal(t, w, g, "element %d", i)
			continue
		}
		worst = max(worst, math.Abs(float64(w-g)))
	}
	return worst
}

func newGraph() *graph.Backend { return graph.New(graph.Options{}) }

// runGraph builds fn on a float32 graph over constant inputs and runs it once.
func runGraph(t *testing.T, fn builder, inputs ...*ft.Tensor) (*graph.Backend, backend.Value) {
	t.Helper()
	return runGraphWith(t, graph.Options{}, fn, inputs...)
}

// runGraphWith builds fn on a graph made with opt over constant inputs
// and runs it once.
func runGraphWith(t *testing.T, opt graph.Options, fn builder, inputs ...*ft.Tensor) (*graph.Backend, backend.Value) {
	t.Helper()
	be := graph.New(opt)
	vals := make([]backend.Value, len(inputs))
	for i, x := range inputs {
		vals[i] = be.Const(x)
	}
	y := fn(be, vals)
	m, err := be.Compile()
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	require.NoError(t, m.Run(context.Background()))
	return be, y
}

func negInf() float64 { return math.Inf(-1) }

// logSoftmaxNeg is −log softmax(row)[t], computed directly in float64.
func logSoftmaxNeg(row []float64, t int) float64 {
	var s float64
	for _, v := range row {
		s += math.Exp(v)
	}
	return math.Log(s) - row[t]
}
