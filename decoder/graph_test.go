package decoder

import (
	"context"
	"testing"

	"github.com/fovea-ml/fovea/internal/backend/graph"
	"github.com/stretchr/testify/require"
)

// TestGraphBackendGolden runs the same decoder code on the gorgonia graph
// backend (the training path) and checks HF's llama_tiny logits there too.
func TestGraphBackendGolden(t *testing.T) {
	m, _ := loadTiny(t)
	g := openGolden(t)
	ids := loadGoldenIDs(t)
	be := graph.New(graph.Options{})
	x, err := m.Embed(be, [][]int{ids.PromptIDs})
	require.NoError(t, err)
	logits, err := m.Forward(be, x, m.NewTrainState(1))
	require.NoError(t, err)
	mach, err := be.Compile()
	require.NoError(t, err)
	defer mach.Close()
	require.NoError(t, mach.Run(context.Background()))
	got, err := be.Read(logits)
	require.NoError(t, err)
	want, err := g.Float32("logits")
	require.NoError(t, err)
	d := maxAbsDiff(t, want, got)
	t.Logf("graph backend logits max|Δ| = %.3g", d)
	require.LessOrEqual(t, d, goldenTol)
}

// TestGraphBackendTrains takes AdamW steps on llama_tiny's own prompt
// (next-token targets) and checks that the loss falls.
func TestGraphBackendTrains(t *testing.T) {
	m, _ := loadTiny(t)
	ids := loadGoldenIDs(t).PromptIDs
	be := graph.New(graph.Options{})
	x, err := m.Embed(be, [][]int{ids[:len(ids)-1]})
	require.NoError(t, err)
	logits, err := m.Forward(be, x, m.NewTrainState(1))
	require.NoError(t, err)
	loss := be.CrossEntropy(logits, ids[1:], -100)
	require.NoError(t, be.Backward(loss))
	mach, err := be.Compile()
	require.NoError(t, err)
	defer mach.Close()
	opt := graph.NewAdamW(1e-2, 0)
	var first, last float32
	const steps = 15
	for i := 0; i < steps; i++ {
		require.NoError(t, mach.Run(context.Background()))
		l, err := be.Read(loss)
		require.NoError(t, err)
		if i == 0 {
			first = l.Data[0]
		}
		last = l.Data[0]
		require.NoError(t, opt.Step(be.Params()))
	}
	t.Logf("loss %.4f → %.4f in %d steps", first, last, steps)
	require.Less(t, last, first/2)
}
