package decoder

import (
	"path/filepath"
	"testing"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/internal/weights"
	"github.com/stretchr/testify/require"
)

// wrapLayer is a caller-supplied layer: it binds itself (LayerBinder),
// keeps its own state type and records the positions it sees.
type wrapLayer struct {
	inner *Block
	seen  [][]int
}

type wrapState struct{ cache any }

func (w *wrapLayer) NewState(batch int) any { return &wrapState{cache: w.inner.NewState(batch)} }

func (w *wrapLayer) Forward(b backend.Backend, x backend.Value, pos []int, state any) backend.Value {
	w.seen = append(w.seen, append([]int(nil), pos...))
	return w.inner.Forward(b, x, pos, state.(*wrapState).cache)
}

func (w *wrapLayer) Bind(bd *weights.Binder, prefix string) error { return bd.Bind(prefix, w.inner) }

// TestNewWithLayers: a model whose layer 2 is supplied by the caller gives
// HF's logits, and the layer receives absolute positions.
func TestNewWithLayers(t *testing.T) {
	mc, err := config.Load(llamaTinyDir)
	require.NoError(t, err)
	cfg := mc.Llama
	rope, err := NewRoPE(cfg)
	require.NoError(t, err)
	blk, err := NewBlock(cfg, rope)
	require.NoError(t, err)
	w := &wrapLayer{inner: blk}
	layers := make([]Layer, cfg.NumHiddenLayers)
	layers[2] = w
	m, err := NewWithLayers(cfg, layers)
	require.NoError(t, err)
	src, err := safetensors.Open(filepath.Join(llamaTinyDir, "model.safetensors"))
	require.NoError(t, err)
	defer src.Close()
	require.NoError(t, m.Load(src, "model."))

	ids := loadGoldenIDs(t).PromptIDs
	var b backend.Eager
	st := m.NewState(1)
	x, err := m.Embed(b, [][]int{ids[:9]})
	require.NoError(t, err)
	_, err = m.Forward(b, x, st)
	require.NoError(t, err)
	x, err = m.Embed(b, [][]int{ids[9:]})
	require.NoError(t, err)
	logits, err := m.Forward(b, x, st)
	require.NoError(t, err)
	require.Equal(t, [][]int{{0, 1, 2, 3, 4, 5, 6, 7, 8}, {9, 10, 11}}, w.seen)

	want, err := openGolden(t).Float32("logits")
	require.NoError(t, err)
	tail := want.Row(0).Reshape(len(ids), -1).Data[9*cfg.VocabSize:]
	got := backend.T(logits).Data
	require.Len(t, got, len(tail))
	for i := range tail {
		require.InDelta(t, tail[i], got[i], goldenTol)
	}

	_, err = NewWithLayers(cfg, layers[:2])
	require.ErrorContains(t, err, "num_hidden_layers")
	_, err = New(cfg, WithEmbedRows(cfg.VocabSize-1))
	require.ErrorContains(t, err, "vocab_size")
	big, err := New(cfg, WithEmbedRows(cfg.VocabSize+8))
	require.NoError(t, err)
	require.Equal(t, []int{cfg.VocabSize + 8, cfg.HiddenSize}, big.EmbedTokens.Shape)
	require.Equal(t, []int{cfg.VocabSize, cfg.HiddenSize}, big.LMHead.Shape)
}
