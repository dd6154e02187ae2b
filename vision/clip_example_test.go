package vision_test

import (
	"encoding/json"
	"fmt"
	"image"
	"log"
	"os"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/vision"
)

// ExampleLoadCLIPVision encodes one image with a CLIPVisionModel folder.
func ExampleLoadCLIPVision() {
	dir := "../testdata/clip_tiny/"
	raw, err := os.ReadFile(dir + "config.json")
	if err != nil {
		log.Fatal(err)
	}
	var cfg config.CLIPVision
	if err := json.Unmarshal(raw, &cfg); err != nil {
		log.Fatal(err)
	}
	src, err := safetensors.Open(dir + "model.safetensors")
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()
	tower, err := vision.LoadCLIPVision(src, vision.CLIPPrefix, &cfg)
	if err != nil {
		log.Fatal(err)
	}
	img, err := vision.LoadImage(dir + "image.png")
	if err != nil {
		log.Fatal(err)
	}
	pre, err := vision.LoadPreprocessorConfig(dir)
	if err != nil {
		log.Fatal(err)
	}
	pixels, err := pre.(*vision.CLIPPreprocessorConfig).PreprocessBatch([]image.Image{img})
	if err != nil {
		log.Fatal(err)
	}
	var b backend.Eager
	hidden, last, pooled := tower.Forward(b, pixels)
	fmt.Println(len(hidden), b.Shape(last), b.Shape(pooled))
	// Output: 4 [1 17 64] [1 64]
}
