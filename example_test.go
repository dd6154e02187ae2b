package fovea_test

import (
	"context"
	"fmt"
	"image"
	"log"

	"github.com/fovea-ml/fovea"
	"github.com/fovea-ml/fovea/decoder"
)

// Example loads a LLaVA folder and describes an image. The prompt is
// given as token ids with one <image> placeholder (id 383), which the
// library expands to the image's 16 feature tokens.
func Example() {
	ctx := context.Background()
	m, err := fovea.Load(ctx, "testdata/llava_tiny")
	if err != nil {
		log.Fatal(err)
	}
	img, err := fovea.LoadImage("testdata/llava_tiny/image.png")
	if err != nil {
		log.Fatal(err)
	}
	req := fovea.Request{
		IDs:     []int{1, 17, 42, 99, 383, 250, 7, 131, 64, 300},
		Images:  []image.Image{img},
		Options: decoder.GenerateOptions{MaxNewTokens: 8}, // greedy
	}
	var ids []int
	for tok, err := range m.Generate(ctx, req) {
		if err != nil {
			log.Fatal(err)
		}
		ids = append(ids, tok.ID)
	}
	fmt.Println(ids)
	// Output: [28 202 286 353 223 337 81 374]
}

// ExampleModel_Logits computes next-token logits for a prompt and an
// already preprocessed image.
func ExampleModel_Logits() {
	ctx := context.Background()
	m, err := fovea.Load(ctx, "testdata/llava_tiny")
	if err != nil {
		log.Fatal(err)
	}
	img, err := fovea.LoadImage("testdata/llava_tiny/image.png")
	if err != nil {
		log.Fatal(err)
	}
	px, err := m.PreprocessImages([]image.Image{img})
	if err != nil {
		log.Fatal(err)
	}
	logits, err := m.Logits(ctx, []int{1, 17, 42, 99, 383, 250, 7, 131, 64, 300}, px)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(px.Values.Shape, logits.Shape) // the placeholder became 16 positions
	// Output: [1 3 32 32] [1 25 384]
}
