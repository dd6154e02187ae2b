package visionlab

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fovea-ml/fovea/examples/shapes/internal/shapes"
	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/fovea-ml/fovea/internal/weights"
	"github.com/fovea-ml/fovea/tokenizer"
	"github.com/stretchr/testify/require"
)

func tiny() Config {
	return Config{ImageSize: 48, PatchSize: 16, Width: 16, Layers: 1, Heads: 2, MLP: 32, Batch: 8, LR: 3e-3,
		TrainImages: 64, HeldOutImages: 20, Seed: 1}
}

// Patches belong to the column that holds their centre: with 48/16 each
// patch column is one image column; with 64/8 the columns get 3, 2, 3.
func TestPooling(t *testing.T) {
	m, err := NewModel(tiny())
	require.NoError(t, err)
	for c := 0; c < 3; c++ {
		for p := 0; p < 9; p++ {
			want := float32(0)
			if p%3 == c {
				want = 1.0 / 3
			}
			require.Equal(t, want, m.pool.Data[c*9+p], "column %d patch %d", c, p)
		}
	}
	c := tiny()
	c.ImageSize, c.PatchSize = 64, 8
	m, err = NewModel(c)
	require.NoError(t, err)
	cols := []int{0, 0, 0, 1, 1, 2, 2, 2}
	for p := 0; p < 64; p++ {
		col := cols[p%8]
		require.Equal(t, float32(1)/float32(8*map[int]int{0: 3, 1: 2, 2: 3}[col]), m.pool.Data[col*64+p])
	}
}

// Targets: present per column, kind and colour only where a shape is.
func TestMakeData(t *testing.T) {
	d, err := MakeData(tiny(), shapes.Train, 10)
	require.NoError(t, err)
	scenes, err := shapes.Scenes(1, shapes.Train, 10)
	require.NoError(t, err)
	require.Len(t, d.Pixels, 10*3*48*48)
	for i, sc := range scenes {
		n := 0
		for c := 0; c < 3; c++ {
			n += d.Present[i*3+c]
			if d.Present[i*3+c] == 0 {
				require.Equal(t, ignore, d.Kind[i*3+c])
			}
		}
		require.Equal(t, len(sc.Shapes), n)
		for _, s := range sc.Shapes {
			require.Equal(t, int(s.Kind), d.Kind[i*3+int(s.Column)])
			require.Equal(t, int(s.Colour), d.Colour[i*3+int(s.Column)])
		}
	}
}

// A few steps on the graph backend lower the loss, and evaluation runs.
func TestTrainSteps(t *testing.T) {
	c := tiny()
	d, err := MakeData(c, shapes.Train, c.TrainImages)
	require.NoError(t, err)
	m, err := NewModel(c)
	require.NoError(t, err)
	tr, err := NewTrainer(c, m)
	require.NoError(t, err)
	defer tr.Close()
	idx := []int{0, 1, 2, 3, 4, 5, 6, 7}
	first, err := tr.Step(context.Background(), d, idx, c.LR)
	require.NoError(t, err)
	var last float32
	for i := 0; i < 30; i++ {
		last, err = tr.Step(context.Background(), d, idx, c.LR)
		require.NoError(t, err)
	}
	require.Less(t, last, first*0.7, "loss %v → %v", first, last)
	acc := m.Evaluate(d, c.ImageSize)
	require.Greater(t, acc.Colour, 0.5, "colour is nearly linear in the pixels: %v", acc)

	_, pts, err := Run(context.Background(), c, 300*time.Millisecond, 100*time.Millisecond, nil)
	require.NoError(t, err)
	require.NotEmpty(t, pts)
	require.Error(t, Config{}.Validate())
}

// The fusion stage runs end to end on a tiny setup, single- and
// multi-turn, and its conversations put targets on answer tokens only.
func TestFusionSmoke(t *testing.T) {
	c := tiny()
	m, err := NewModel(c)
	require.NoError(t, err)
	for _, turns := range []int{1, 3} {
		fc := FusionConfig{Width: 16, Layers: 1, Heads: 2, KVHeads: 1, MLP: 32, Batch: 4, LR: 1e-3, EvalImages: 2, Seed: 1, Turns: turns}
		var pts []FusionPoint
		require.NoError(t, RunFusion(context.Background(), c, fc, m, 200*time.Millisecond, time.Hour, func(p FusionPoint) { pts = append(pts, p) }))
		require.Len(t, pts, 1)
		require.GreaterOrEqual(t, pts[0].Acc, 0.0)
		require.LessOrEqual(t, pts[0].Acc, 1.0)
	}
}

func TestConvLen(t *testing.T) {
	rows := []row{
		{Prompt: make([]int, 3), Follow: make([]int, 5), Ans: make([]int, 2)},
		{Prompt: make([]int, 4), Follow: make([]int, 6), Ans: make([]int, 10)},
		{Prompt: make([]int, 3), Follow: make([]int, 5), Ans: make([]int, 1)},
	}
	// Two longest turns: 16 + 7, first turn's prompt at most 2 shorter.
	require.Equal(t, 16+7-2, convLen([][]row{rows}, 2))
	require.Equal(t, 16+7+6-2, convLen([][]row{rows}, 5))
}

// The fusion model starts as a fresh Llama should: every norm weight 1,
// every matrix random (the decoder's layers and LM head are not tagged
// fields of decoder.Model, so they need listing).
func TestFusionInit(t *testing.T) {
	tok, err := tokenizer.Train(context.Background(), []string{"USER: hi ASSISTANT: red"}, tokenizer.TrainConfig{VocabSize: 270, SpecialTokens: labSpecials, MinFrequency: 1})
	require.NoError(t, err)
	fu, err := newFusion(FusionConfig{Width: 16, Layers: 2, Heads: 2, KVHeads: 1, MLP: 32, Seed: 1}, tok, []int{labBOS}, 8)
	require.NoError(t, err)
	nonzero := func(x []float32) bool {
		for _, v := range x {
			if v != 0 {
				return true
			}
		}
		return false
	}
	for _, v := range fu.Dec.Norm.Data {
		require.Equal(t, float32(1), v)
	}
	require.True(t, nonzero(fu.Dec.LMHead.Data))
	require.True(t, nonzero(fu.Proj1.Weight.Data))
	n := 0
	for _, l := range fu.Dec.Layers {
		require.NoError(t, weights.Walk(l, func(name string, w **tensor.Tensor, _ bool) error {
			if *w == nil { // optional and absent (no biases in Llama)
				return nil
			}
			n++
			if strings.HasSuffix(name, "norm.weight") {
				require.Equal(t, float32(1), (*w).Data[0], name)
			} else {
				require.True(t, nonzero((*w).Data), name)
			}
			return nil
		}))
	}
	require.Greater(t, n, 10)
}
