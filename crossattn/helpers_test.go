package crossattn

import (
	"image"
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/fovea-ml/fovea/internal/weights"
	"github.com/fovea-ml/fovea/projector"
	"github.com/fovea-ml/fovea/vision"
)

// goldenTol is the float32-vs-HF tolerance of the project.
const goldenTol = 1e-4

// imageToken is image_token_index of the tiny cases.
const imageToken = 383

func caseDir(name string) string { return filepath.Join("..", "testdata", name) }

// tinyModel is a tiny Mllama assembled from its parts (the root package
// does the same behind its API).
type tinyModel struct {
	cfg   *config.Mllama
	dec   *decoder.Model
	tower *vision.MllamaVision
	proj  *projector.Mllama
	pre   *vision.MllamaPreprocessorConfig
}

func loadTiny(t testing.TB, name string) *tinyModel {
	t.Helper()
	dir := caseDir(name)
	mc, err := config.Load(dir)
	require.NoError(t, err)
	cfg := mc.Mllama
	require.NotNil(t, cfg)
	layers, err := NewLayers(&cfg.TextConfig)
	require.NoError(t, err)
	text := cfg.TextConfig.AsLlama()
	dec, err := decoder.NewWithLayers(&text, layers, decoder.WithEmbedRows(cfg.TextConfig.NumEmbeddings()))
	require.NoError(t, err)
	tower, err := vision.NewMllamaVision(&cfg.VisionConfig)
	require.NoError(t, err)
	proj := projector.NewMllama(cfg)
	src, err := safetensors.Open(filepath.Join(dir, "model.safetensors"))
	require.NoError(t, err)
	defer src.Close()
	bd := weights.NewBinder(src)
	_ = bd.Bind(vision.MllamaVisionPrefix, tower)
	_ = bd.Bind(projector.Prefix, proj)
	require.NoError(t, dec.BindTo(bd, "language_model.model.", "language_model.lm_head.weight"))
	require.NoError(t, bd.Finish())
	pc, err := vision.LoadPreprocessorConfig(dir)
	require.NoError(t, err)
	return &tinyModel{cfg: cfg, dec: dec, tower: tower, proj: proj, pre: pc.(*vision.MllamaPreprocessorConfig)}
}

// encode preprocesses images[b] (the images of sequence b) and returns
// cross_attention_states [B, Nv, D] and the tile counts.
func (m *tinyModel) encode(t testing.TB, images [][]image.Image) (backend.Value, [][]int) {
	t.Helper()
	px, err := m.pre.Preprocess(images)
	require.NoError(t, err)
	in := &vision.MllamaVisionInput{Pixels: px.PixelValues, AspectRatioIDs: px.AspectRatioIDs, AspectRatioMask: px.AspectRatioMask}
	require.NoError(t, m.tower.CheckInput(in))
	var b backend.Eager
	return m.proj.Forward(b, m.tower.Forward(b, in).Output), px.NumTiles
}

// logits runs ids [B][T] with image states (nil: text only) → [B, T, V].
func (m *tinyModel) logits(t testing.TB, ids [][]int, states backend.Value, numTiles [][]int, opts Options) *tensor.Tensor {
	t.Helper()
	var b backend.Eager
	st := m.dec.NewState(len(ids))
	if states != nil {
		tm, err := BuildTokenMask(ids, imageToken, numTiles, m.cfg.VisionConfig.MaxNumTiles)
		require.NoError(t, err)
		require.NoError(t, SetImages(b, m.dec, st, states, tm, opts))
	}
	x, err := m.dec.Embed(b, ids)
	require.NoError(t, err)
	out, err := m.dec.Forward(b, x, st)
	require.NoError(t, err)
	return backend.T(out)
}

func loadImage(t testing.TB, name, file string) image.Image {
	t.Helper()
	img, err := vision.LoadImage(filepath.Join(caseDir(name), file))
	require.NoError(t, err)
	return img
}

func openGolden(t testing.TB, name string) *safetensors.File {
	t.Helper()
	g, err := safetensors.Open(filepath.Join(caseDir(name), "golden.safetensors"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = g.Close() })
	return g
}

func goldenInts(t testing.TB, g *safetensors.File, name string) ([]int, []int) {
	t.Helper()
	v, shape, err := g.Int64(name)
	require.NoError(t, err)
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out, shape
}

func maxAbsDiff(t testing.TB, want, got *tensor.Tensor) float64 {
	t.Helper()
	require.Equal(t, tensor.Numel(want.Shape), tensor.Numel(got.Shape), "shapes %v vs %v", want.Shape, got.Shape)
	d := 0.0
	for i := range want.Data {
		d = math.Max(d, math.Abs(float64(want.Data[i])-float64(got.Data[i])))
	}
	return d
}
