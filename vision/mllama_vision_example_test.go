package vision_test

import (
	"fmt"
	"image"
	"path/filepath"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/vision"
)

// ExampleMllamaVision_Forward tiles one image and runs the Mllama vision
// tower on it.
func ExampleMllamaVision_Forward() {
	dir := filepath.Join("..", "testdata", "mllama_tiny")
	mc, _ := config.Load(dir)
	src, _ := safetensors.Open(filepath.Join(dir, "model.safetensors"))
	defer src.Close()
	tower, err := vision.LoadMllamaVision(src, vision.MllamaVisionPrefix, &mc.Mllama.VisionConfig)
	if err != nil {
		fmt.Println(err)
		return
	}
	pc, _ := vision.LoadPreprocessorConfig(dir)
	img, _ := vision.LoadImage(filepath.Join(dir, "image.png"))
	px, _ := pc.(*vision.MllamaPreprocessorConfig).Preprocess([][]image.Image{{img}})
	in := &vision.MllamaVisionInput{Pixels: px.PixelValues, AspectRatioIDs: px.AspectRatioIDs, AspectRatioMask: px.AspectRatioMask}
	if err := tower.CheckInput(in); err != nil {
		fmt.Println(err)
		return
	}
	var b backend.Eager
	out := tower.Forward(b, in)
	fmt.Println("tiles:", px.NumTiles, "aspect ratio id:", px.AspectRatioIDs)
	fmt.Println("output [B, N, tiles, P+1, Dout]:", b.Shape(out.Output))
	fmt.Println("local hidden states:", len(out.Local), b.Shape(out.Local[0]))
	// Output:
	// tiles: [[2]] aspect ratio id: [[2]]
	// output [B, N, tiles, P+1, Dout]: [1 1 2 17 192]
	// local hidden states: 4 [1 48 64]
}
