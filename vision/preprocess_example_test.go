package vision_test

import (
	"fmt"
	"image"
	"log"

	"github.com/fovea-ml/fovea/vision"
)

func ExampleCLIPPreprocessorConfig_Preprocess() {
	cfg, err := vision.LoadPreprocessorConfig("../testdata/clip_tiny")
	if err != nil {
		log.Fatal(err)
	}
	img, err := vision.LoadImage("../testdata/clip_tiny/image.png")
	if err != nil {
		log.Fatal(err)
	}
	pixels, err := cfg.(*vision.CLIPPreprocessorConfig).Preprocess(img)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(img.Bounds().Dx(), "x", img.Bounds().Dy(), "->", pixels.Shape)
	// Output: 48 x 40 -> [3 32 32]
}

func ExampleMllamaPreprocessorConfig_Preprocess() {
	cfg, err := vision.LoadPreprocessorConfig("../testdata/mllama_tiny")
	if err != nil {
		log.Fatal(err)
	}
	img, err := vision.LoadImage("../testdata/mllama_tiny/image.png")
	if err != nil {
		log.Fatal(err)
	}
	out, err := cfg.(*vision.MllamaPreprocessorConfig).Preprocess([][]image.Image{{img}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(out.PixelValues.Shape, out.AspectRatioIDs, out.AspectRatioMask, out.NumTiles)
	// Output: [1 1 2 3 32 32] [[2]] [[[1 1]]] [[2]]
}
