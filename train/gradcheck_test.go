package train

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"gorgonia.org/gorgonia"

	"github.com/fovea-ml/fovea"
	"github.com/fovea-ml/fovea/crossattn"
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/backend/graph"
	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/fovea-ml/fovea/internal/traintest"
	"github.com/fovea-ml/fovea/internal/weights"
)

// gradSamples is the number of coordinates of each tensor checked by
// finite differences (all of them would take minutes).
const gradSamples = 5

// zeroGrad is the norm below which a sampled gradient counts as zero.
const zeroGrad = 1e-6

func randT(rng *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64() * 0.5)
	}
	return t
}

// layerGradCheck builds fn on a float64 graph in which every tensor of
// layer and the extra inputs are trainable, takes loss = Σ y ⊙ R and
// compares the analytic gradient with central differences at sampled
// coordinates of every parameter. It returns the worst relative error.
func layerGradCheck(t *testing.T, layer any, extra []*tensor.Tensor, fn func(b *graph.Backend, in []backend.Value) backend.Value) float64 {
	t.Helper()
	const h = 1e-6
	train := map[*tensor.Tensor]bool{}
	require.NoError(t, weights.Walk(layer, func(_ string, w **tensor.Tensor, _ bool) error {
		if *w != nil {
			train[*w] = true
		}
		return nil
	}))
	for _, x := range extra {
		train[x] = true
	}
	b := graph.New(graph.Options{Float64: true, Trainable: func(w *tensor.Tensor) bool { return train[w] }})
	in := make([]backend.Value, len(extra))
	for i, x := range extra {
		in[i] = b.Weight(x)
	}
	y := b.Node(fn(b, in))
	rng := rand.New(rand.NewPCG(11, 12))
	r := randT(rng, b.Shape(y)...)
	loss, err := gorgonia.Sum(gorgonia.Must(gorgonia.HadamardProd(y, b.Node(b.Const(r)))))
	require.NoError(t, err)
	require.NoError(t, b.Backward(loss))
	m, err := b.Compile()
	require.NoError(t, err)
	defer m.Close()
	ctx := context.Background()
	at := func() float64 {
		require.NoError(t, m.Run(ctx))
		v, err := b.ReadFloat64(loss)
		require.NoError(t, err)
		return v[0]
	}
	at()
	params := b.Params()
	require.Equal(t, len(train), len(params), "every tensor of the layer must reach the loss")
	worst, num2 := 0.0, 0.0
	for _, p := range params {
		require.NoError(t, m.Run(ctx))
		g, err := p.Node.Grad()
		require.NoError(t, err)
		analytic := append([]float64(nil), g.Data().([]float64)...)
		x := p.Node.Value().Data().([]float64)
		var n2, d2 float64
		for range gradSamples {
			j := rng.IntN(len(x))
			orig := x[j]
			x[j] = orig + h
			up := at()
			x[j] = orig - h
			down := at()
			x[j] = orig
			n := (up - down) / (2 * h)
			n2 += n * n
			d2 += (n - analytic[j]) * (n - analytic[j])
		}
		num2 += n2
		if testing.Verbose() && n2 > 0 && math.Sqrt(d2/n2) > 1e-5 {
			t.Logf("%s %v: relative error %.3g", p.Node.Name(), p.Tensor.Shape, math.Sqrt(d2/n2))
		}
		// A gradient that is zero in exact arithmetic (the key bias of
		// softmax attention) leaves only rounding noise in the numeric
		// estimate: compare absolutely there.
		if n2 > zeroGrad*zeroGrad {
			worst = math.Max(worst, math.Sqrt(d2/n2))
		} else {
			require.Less(t, math.Sqrt(d2), zeroGrad, "%s: gradient should vanish", p.Node.Name())
		}
	}
	require.Positive(t, num2, "all sampled gradients are zero: the check would be vacuous")
	return worst
}

// TestLayerGradients: float64 finite differences through the graph
// backend for every layer type the trainer runs: CLIP encoder block,
// Mllama vision layers (local and gated global), LLaVA projector, Llama
// decoder block and the gated cross-attention layer (with its training
// state), on the tiny golden checkpoints' weights.
func TestLayerGradients(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	const tol = 1e-5
	lv, err := fovea.Load(ctx, filepath.Join(traintest.Root(), "testdata", "llava_tiny"), fovea.ForTraining(), fovea.WithoutTokenizer())
	require.NoError(t, err)
	ml, err := fovea.Load(ctx, filepath.Join(traintest.Root(), "testdata", "mllama_tiny"), fovea.ForTraining(), fovea.WithoutTokenizer())
	require.NoError(t, err)
	lp, mp := lv.Parts(), ml.Parts()
	check := func(name string, layer any, extra []*tensor.Tensor, fn func(b *graph.Backend, in []backend.Value) backend.Value) {
		t.Run(name, func(t *testing.T) {
			rel := layerGradCheck(t, layer, extra, fn)
			t.Logf("%s: worst relative error %.2g", name, rel)
			require.Less(t, rel, tol)
		})
	}

	cc := lp.CLIP.Config()
	clipAct, err := backend.ParseAct(cc.HiddenAct)
	require.NoError(t, err)
	check("clip_block", &lp.CLIP.Layers[0], []*tensor.Tensor{randT(rng, 2, 5, cc.HiddenSize)}, func(b *graph.Backend, in []backend.Value) backend.Value {
		return lp.CLIP.Layers[0].Forward(b, in[0], cc.NumAttentionHeads, clipAct)
	})

	vc := mp.MllamaVision.Config()
	vAct, err := backend.ParseAct(vc.HiddenAct)
	require.NoError(t, err)
	check("mllama_vision_layer", &mp.MllamaVision.Layers[0], []*tensor.Tensor{randT(rng, 1, 6, vc.HiddenSize)}, func(b *graph.Backend, in []backend.Value) backend.Value {
		return mp.MllamaVision.Layers[0].Forward(b, in[0], nil, vc.AttentionHeads, vAct)
	})
	check("mllama_vision_global_layer", &mp.MllamaVision.GlobalLayers[0], []*tensor.Tensor{randT(rng, 1, 6, vc.HiddenSize)}, func(b *graph.Backend, in []backend.Value) backend.Value {
		return mp.MllamaVision.GlobalLayers[0].Forward(b, in[0], nil, vc.AttentionHeads, vAct)
	})

	check("llava_projector", lp.Projector, []*tensor.Tensor{randT(rng, 1, 4, cc.HiddenSize)}, func(b *graph.Backend, in []backend.Value) backend.Value {
		return lp.Projector.Forward(b, in[0])
	})

	d := lp.Decoder.Config().HiddenSize
	check("decoder_block", lp.Decoder.Layers[0], []*tensor.Tensor{randT(rng, 1, 5, d)}, func(b *graph.Backend, in []backend.Value) backend.Value {
		return lp.Decoder.Layers[0].Forward(b, in[0], []int{0, 1, 2, 3, 4}, nil)
	})

	dm := mp.Decoder.Config().HiddenSize
	cl, ok := mp.Decoder.Layers[1].(*crossattn.Layer)
	require.True(t, ok)
	const tokens, tiles, patches = 4, 2, 3
	tm, err := crossattn.BuildTokenMask([][]int{{1, mp.ImageToken, 5, 6}}, mp.ImageToken, [][]int{{1}}, tiles)
	require.NoError(t, err)
	masks, err := crossattn.BatchMasks([]*crossattn.TokenMask{tm}, tokens, 1, tiles, patches, false)
	require.NoError(t, err)
	check("cross_attention_layer", cl, []*tensor.Tensor{randT(rng, 1, tokens, dm), randT(rng, 1, tiles*patches, dm)}, func(b *graph.Backend, in []backend.Value) backend.Value {
		st := mp.Decoder.NewTrainState(1)
		require.NoError(t, crossattn.SetTrainImages(b, mp.Decoder, st, in[1], crossattn.TrainInputs{
			Mask: b.Const(masks.Mask), Rows: b.Const(masks.Rows), AttnRows: b.Const(masks.AttnRows)}))
		return cl.Forward(b, in[0], []int{0, 1, 2, 3}, st.Layers[1])
	})
}
