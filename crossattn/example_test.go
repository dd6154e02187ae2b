package crossattn_test

import (
	"context"
	"fmt"
	"image"
	"path/filepath"

	"github.com/fovea-ml/fovea/crossattn"
	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/internal/weights"
	"github.com/fovea-ml/fovea/projector"
	"github.com/fovea-ml/fovea/vision"
)

// Example assembles a tiny Mllama from its parts, puts one image into the
// decoder's run state with SetImages and decodes greedily: the decoder
// itself never sees the image.
func Example() {
	dir := filepath.Join("..", "testdata", "mllama_tiny")
	mc, _ := config.Load(dir)
	cfg := mc.Mllama

	// A decoder whose cross_attention_layers are crossattn.Layers.
	layers, _ := crossattn.NewLayers(&cfg.TextConfig)
	text := cfg.TextConfig.AsLlama()
	dec, _ := decoder.NewWithLayers(&text, layers, decoder.WithEmbedRows(cfg.TextConfig.NumEmbeddings()))
	tower, _ := vision.NewMllamaVision(&cfg.VisionConfig)
	proj := projector.NewMllama(cfg)
	src, _ := safetensors.Open(filepath.Join(dir, "model.safetensors"))
	defer src.Close()
	bd := weights.NewBinder(src)
	_ = bd.Bind(vision.MllamaVisionPrefix, tower)
	_ = bd.Bind(projector.Prefix, proj)
	_ = dec.BindTo(bd, "language_model.model.", "language_model.lm_head.weight")
	if err := bd.Finish(); err != nil {
		fmt.Println(err)
		return
	}

	// Image → tiles → vision tower → projector: [1, N·tiles·P, D].
	pc, _ := vision.LoadPreprocessorConfig(dir)
	img, _ := vision.LoadImage(filepath.Join(dir, "image.png"))
	px, _ := pc.(*vision.MllamaPreprocessorConfig).Preprocess([][]image.Image{{img}})
	var b backend.Eager
	out := tower.Forward(b, &vision.MllamaVisionInput{
		Pixels: px.PixelValues, AspectRatioIDs: px.AspectRatioIDs, AspectRatioMask: px.AspectRatioMask,
	})
	states := proj.Forward(b, out.Output)

	// The prompt's image token (383) decides which tokens see the image.
	prompt := []int{1, 17, 42, 383, 250, 7, 131, 64, 300, 12}
	mask, err := crossattn.BuildTokenMask([][]int{prompt}, cfg.ImageTokenIndex, px.NumTiles, cfg.VisionConfig.MaxNumTiles)
	if err != nil {
		fmt.Println(err)
		return
	}
	st := dec.NewState(1)
	if err := crossattn.SetImages(b, dec, st, states, mask, crossattn.Options{}); err != nil {
		fmt.Println(err)
		return
	}
	x, _ := dec.Embed(b, [][]int{prompt})
	ids, _ := dec.Greedy(context.Background(), b, st, x, 8)
	fmt.Println(ids)
	// Output: [175 175 175 175 209 135 209 345]
}
