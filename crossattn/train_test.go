package crossattn

import (
	"context"
	"image"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/backend/graph"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// TestTrainStateMatchesInference runs a batch of two copies of the golden
// prompt on the graph backend with the training state: sequence 0 with
// its image gives the eager logits with SetImages (HF mode and Strict),
// sequence 1 without images gives the text-only logits (the layers pass
// it through, as HF skips them).
func TestTrainStateMatchesInference(t *testing.T) {
	m := loadTiny(t, "mllama_tiny")
	ids, _, _ := goldenJSON(t, "mllama_tiny")
	img := loadImage(t, "mllama_tiny", "image.png")
	states, numTiles := m.encode(t, [][]image.Image{{img}})
	s := backend.T(states) // [1, Nv, D]
	textOnly := m.logits(t, [][]int{ids}, nil, nil, Options{})
	tiles := m.cfg.VisionConfig.MaxNumTiles
	patches := s.Shape[1] / tiles
	for _, strict := range []bool{false, true} {
		withImage := m.logits(t, [][]int{ids}, states, numTiles, Options{Strict: strict})
		tm, err := BuildTokenMask([][]int{ids}, imageToken, numTiles, tiles)
		require.NoError(t, err)
		masks, err := BatchMasks([]*TokenMask{tm, nil}, len(ids), 1, tiles, patches, strict)
		require.NoError(t, err)
		two := tensor.New(2, s.Shape[1], s.Shape[2]) // sequence 1 has no image: zero states
		copy(two.Data, s.Data)

		g := graph.New(graph.Options{Trainable: func(*tensor.Tensor) bool { return false }})
		x, err := m.dec.Embed(g, [][]int{ids, ids})
		require.NoError(t, err)
		st := m.dec.NewTrainState(2)
		require.NoError(t, SetTrainImages(g, m.dec, st, g.Const(two), TrainInputs{
			Mask: g.Const(masks.Mask), Rows: g.Const(masks.Rows), AttnRows: g.Const(masks.AttnRows)}))
		logits, err := m.dec.Forward(g, x, st)
		require.NoError(t, err)
		mach, err := g.Compile()
		require.NoError(t, err)
		require.NoError(t, mach.Run(context.Background()))
		got, err := g.Read(logits) // [2, T, V]
		require.NoError(t, err)
		n := withImage.Len()
		d0 := maxAbsDiff(t, withImage, &tensor.Tensor{Shape: withImage.Shape, Data: got.Data[:n]})
		d1 := maxAbsDiff(t, textOnly, &tensor.Tensor{Shape: textOnly.Shape, Data: got.Data[n:]})
		t.Logf("strict=%v: with image max |Δ| %.3g, without image vs text-only %.3g", strict, d0, d1)
		require.LessOrEqual(t, d0, 1e-5)
		require.LessOrEqual(t, d1, 1e-5)
		require.NoError(t, mach.Close())
	}
	_, err := BatchMasks(nil, 4, 1, 2, 3, false)
	require.Error(t, err)
	_, err = BatchMasks([]*TokenMask{{Batch: 1, Tokens: 3, Images: 1, Tiles: 2, Data: make([]int, 6)}}, 4, 1, 2, 3, false)
	require.ErrorContains(t, err, "want [1, 4")
}
