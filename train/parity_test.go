package train

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea"
	"github.com/fovea-ml/fovea/internal/backend/graph"
	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/fovea-ml/fovea/internal/traintest"
)

// parityTol is the project's float32-vs-HF tolerance.
const parityTol = 1e-4

func goldenFile(t *testing.T, golden string) *safetensors.File {
	t.Helper()
	st, err := safetensors.Open(filepath.Join(traintest.Root(), "testdata", golden, "golden.safetensors"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

func goldenInts(t *testing.T, st *safetensors.File, name string) []int {
	t.Helper()
	v, _, err := st.Int64(name)
	require.NoError(t, err)
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// trainingLogits runs the training graph of arch a on one sequence (every
// position a target row) and returns its logits [L, V] for positions
// 0..L-1 (row L-1 is the padded target row).
func trainingLogits(t *testing.T, a arch, ids []int, images []string, visionTrains bool) *tensor.Tensor {
	t.Helper()
	ctx := context.Background()
	e := &example{ids: ids, labels: ids, images: images}
	var imgs []*imageData
	for _, p := range images {
		d, err := a.imageInput(ctx, p, visionTrains)
		require.NoError(t, err)
		imgs = append(imgs, d)
	}
	k := bucket{tokens: len(ids), slots: 1, rows: len(ids)}
	g := graph.New(graph.Options{Trainable: func(*tensor.Tensor) bool { return false }})
	sg, err := a.build(g, k, 1, visionTrains)
	require.NoError(t, err)
	require.NoError(t, sg.compile())
	bt, err := a.layout([]*example{e}, [][]*imageData{imgs}, k, 1, visionTrains)
	require.NoError(t, err)
	require.NoError(t, sg.bind(bt))
	require.NoError(t, sg.m.Run(ctx))
	l, err := g.Read(sg.logits)
	require.NoError(t, err)
	return l
}

// maxRowDiff compares rows 0..n-1 of got [≥n, V] with want [1, ≥n, V].
func maxRowDiff(want, got *tensor.Tensor, n int) float64 {
	v := got.Shape[len(got.Shape)-1]
	d := 0.0
	for i := range n * v {
		d = math.Max(d, math.Abs(float64(want.Data[i])-float64(got.Data[i])))
	}
	return d
}

// TestTrainingGraphMatchesInference: the training graph (splice by row
// gather, decoder on the graph backend, LM head on gathered rows) gives
// HF's logits on llava_tiny, with the frozen CLIP features computed
// eagerly and with CLIP itself on the graph; and on mllama_tiny with the
// cross-attention training state.
func TestTrainingGraphMatchesInference(t *testing.T) {
	ctx := context.Background()
	t.Run("llava_tiny", func(t *testing.T) {
		dir := filepath.Join(traintest.Root(), "testdata", "llava_tiny")
		m, err := fovea.Load(ctx, dir, fovea.ForTraining(), fovea.WithoutTokenizer())
		require.NoError(t, err)
		st := goldenFile(t, "llava_tiny")
		ids := goldenInts(t, st, "input_ids")
		want, err := st.Float32("logits")
		require.NoError(t, err)
		for _, visionTrains := range []bool{false, true} {
			a := &llavaArch{p: m.Parts(), model: m, cache: map[string]*imageData{}}
			got := trainingLogits(t, a, ids, []string{filepath.Join(dir, "image.png")}, visionTrains)
			d := maxRowDiff(want, got, len(ids)-1)
			t.Logf("llava_tiny (CLIP on the graph: %v): max |Δ| vs HF = %.3g", visionTrains, d)
			require.LessOrEqual(t, d, parityTol)
		}
	})
	t.Run("mllama_tiny", func(t *testing.T) {
		dir := filepath.Join(traintest.Root(), "testdata", "mllama_tiny")
		m, err := fovea.Load(ctx, dir, fovea.ForTraining(), fovea.WithoutTokenizer())
		require.NoError(t, err)
		st := goldenFile(t, "mllama_tiny")
		ids := goldenInts(t, st, "input_ids")
		want, err := st.Float32("logits")
		require.NoError(t, err)
		for _, visionTrains := range []bool{false, true} {
			a := &mllamaArch{p: m.Parts(), model: m, cross: map[int]bool{1: true, 3: true}, cache: map[string]*imageData{}}
			got := trainingLogits(t, a, ids, []string{filepath.Join(dir, "image.png")}, visionTrains)
			d := maxRowDiff(want, got, len(ids)-1)
			t.Logf("mllama_tiny (vision encoder on the graph: %v): max |Δ| vs HF = %.3g", visionTrains, d)
			require.LessOrEqual(t, d, parityTol)
		}
	})
}
