package decoder_test

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/safetensors"
)

// Example loads the tiny golden Llama and greedily continues a prompt,
// streaming token ids.
func Example() {
	dir := filepath.Join("..", "testdata", "llama_tiny")
	cfg, err := config.Load(dir)
	if err != nil {
		panic(err)
	}
	m, err := decoder.New(cfg.Llama)
	if err != nil {
		panic(err)
	}
	src, err := safetensors.Open(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		panic(err)
	}
	defer src.Close()
	if err := m.Load(src, "model."); err != nil {
		panic(err)
	}

	var b backend.Eager
	prompt := []int{1, 164, 102, 303, 250, 196, 250, 264, 123, 140, 370, 345}
	x, err := m.Embed(b, [][]int{prompt}) // [1, T, D]
	if err != nil {
		panic(err)
	}
	opts := decoder.GenerateOptions{MaxNewTokens: 8, StopTokens: cfg.Llama.EOSTokenID, PromptIDs: prompt}
	for tok, err := range m.Generate(context.Background(), b, m.NewState(1), x, opts) {
		if err != nil {
			panic(err)
		}
		fmt.Print(tok, " ")
	}
	fmt.Println()
	// Output: 54 164 54 164 271 80 164 201
}
