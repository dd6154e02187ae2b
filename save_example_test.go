package fovea_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fovea-ml/fovea"
)

// ExampleModel_Save loads a model folder and saves it as an HF folder
// that fovea.Load and HF transformers' from_pretrained read.
func ExampleModel_Save() {
	ctx := context.Background()
	m, err := fovea.Load(ctx, "testdata/llava_tiny", fovea.WithoutTokenizer())
	if err != nil {
		fmt.Println(err)
		return
	}
	dir, _ := os.MkdirTemp("", "fovea-save-")
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "llava")
	if err := m.Save(ctx, out); err != nil {
		fmt.Println(err)
		return
	}
	back, err := fovea.Load(ctx, out, fovea.WithoutTokenizer())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(back.Kind(), len(back.Parts().Weights), "tensors")
	// Output: llava 98 tensors
}
