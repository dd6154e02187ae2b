package fovea_test

// The README's "Using it from Go" snippets, each the body of an Example
// here (TestReadmeSnippetsAreExamples checks that they stay the same).

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"log"
	"os"
	"slices"
	"strings"

	"github.com/fovea-ml/fovea"
	"github.com/fovea-ml/fovea/decoder"
)

// Describe an image: the shapes LLaVA model that examples/shapes trained
// answers about a held-out image, streamed; then why it stopped and the
// token counts.
func Example_describe() {
	ctx := context.Background()
	m, err := fovea.Load(ctx, "testdata/shapes-llava")
	if err != nil {
		log.Fatal(err)
	}
	img, err := fovea.LoadImage("testdata/shapes-llava/sample-0.png")
	if err != nil {
		log.Fatal(err)
	}
	stream := m.Stream(ctx, fovea.Request{
		Messages:          []fovea.Message{{Role: fovea.RoleUser, Text: "Describe the image.", Images: []image.Image{img}}},
		Options:           decoder.GenerateOptions{MaxNewTokens: 48},
		SkipSpecialTokens: true,
	})
	var reply strings.Builder
	for tok := range stream.Tokens() {
		reply.WriteString(tok.Text) // or print it as it comes
	}
	res, err := stream.Result()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.TrimSpace(reply.String()))
	fmt.Println(res.Finish, res.PromptTokens, res.GeneratedTokens, res.DecodeTokensPerSecond() > 0)
	// Output:
	// a red triangle on the left and a red circle in the middle and a blue circle on the right
	// stop_token 20 21 true
}

// Chat with follow-ups: the session keeps the image features and the KV
// cache, so each follow-up runs only its own tokens.
func Example_chat() {
	ctx := context.Background()
	m, err := fovea.Load(ctx, "testdata/llava_tiny", fovea.WithTokenizer("testdata/tiny_tokenizer/tokenizer.json"))
	if err != nil {
		log.Fatal(err)
	}
	img, err := fovea.LoadImage("testdata/llava_tiny/image.png")
	if err != nil {
		log.Fatal(err)
	}
	chat := m.NewSession()
	opts := fovea.Request{Options: decoder.GenerateOptions{MaxNewTokens: 4}, SkipSpecialTokens: true}
	for _, msg := range []fovea.Message{
		{Role: fovea.RoleUser, Text: "What is this?", Images: []image.Image{img}},
		{Role: fovea.RoleUser, Text: "What colour is it?"},
	} {
		res, err := chat.Send(ctx, msg, opts).Result()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(res.PromptTokens, res.CachedTokens, res.Finish)
	}
	fmt.Println(len(chat.History()), "messages")
	// Output:
	// 39 0 max_tokens
	// 73 39 max_tokens
	// 4 messages
}

// Logits for a prompt with an image: [1, T, V] over the expanded sequence.
func Example_logits() {
	ctx := context.Background()
	m, err := fovea.Load(ctx, "testdata/llava_tiny", fovea.WithTokenizer("testdata/tiny_tokenizer/tokenizer.json"))
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
	ids := m.Tokenizer().Encode("USER: <image>\nWhat is this? ASSISTANT:")
	logits, err := m.Logits(ctx, ids, px)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(ids), logits.Shape)
	// Output: 24 [1 39 384]
}

// Embeddings: the image features the language model sees (reusable as
// Pixels.Features), and the vision tower's own outputs.
func Example_embeddings() {
	ctx := context.Background()
	m, err := fovea.Load(ctx, "testdata/llava_tiny", fovea.WithTokenizer("testdata/tiny_tokenizer/tokenizer.json"))
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
	features, err := m.EncodeImages(ctx, px) // [N, P, D]
	if err != nil {
		log.Fatal(err)
	}
	tower, err := m.VisionOutputs(ctx, px)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(features.Shape, tower.Pooled.Shape, len(tower.Hidden))
	// Output: [1 16 64] [1 64] 4
}

// Composing a model from the layer packages: build a decoder from its
// config, load its weights and run it on the eager backend.
func Example_layers() {
	raw, err := os.ReadFile("testdata/llama_tiny/config.json")
	if err != nil {
		log.Fatal(err)
	}
	var cfg decoder.Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		log.Fatal(err)
	}
	dec, err := decoder.New(&cfg)
	if err != nil {
		log.Fatal(err)
	}
	weights, err := fovea.OpenSafetensors("testdata/llama_tiny/model.safetensors")
	if err != nil {
		log.Fatal(err)
	}
	defer weights.Close()
	if err := dec.Load(weights, "model."); err != nil {
		log.Fatal(err)
	}
	b := fovea.EagerBackend()
	x, err := dec.Embed(b, [][]int{{1, 17, 42}}) // [1, T, D]
	if err != nil {
		log.Fatal(err)
	}
	out, err := dec.Forward(b, x, dec.NewState(1)) // [1, T, V]
	if err != nil {
		log.Fatal(err)
	}
	logits, err := fovea.TensorOf(out)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(logits.Shape)
	// Output: [1 3 384]
}

// Save: an HF folder that Load, transformers and PyTorch tools read; it
// loads back to the same logits.
func Example_save() {
	ctx := context.Background()
	m, err := fovea.Load(ctx, "testdata/llava_tiny", fovea.WithTokenizer("testdata/tiny_tokenizer/tokenizer.json"))
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "fovea-save-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := m.Save(ctx, dir+"/llava"); err != nil {
		log.Fatal(err)
	}
	back, err := fovea.Load(ctx, dir+"/llava")
	if err != nil {
		log.Fatal(err)
	}
	ids := m.Tokenizer().Encode("USER: What is this? ASSISTANT:")
	before, err := m.Logits(ctx, ids, nil)
	if err != nil {
		log.Fatal(err)
	}
	after, err := back.Logits(ctx, ids, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(slices.Equal(before.Data, after.Data))
	// Output: true
}
