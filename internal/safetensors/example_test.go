package safetensors_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/internal/tensor"
)

func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "st-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.safetensors")
	err := safetensors.WriteEntries(path, []safetensors.Entry{
		safetensors.Float32Entry("embed.weight", tensor.FromData([]float32{0.5, -1, 2, 4}, 2, 2)),
		safetensors.Int64Entry("generated_ids", []int64{7, 11, 13}, 1, 3),
	}, map[string]string{"format": "pt"})
	if err != nil {
		panic(err)
	}

	f, err := safetensors.Open(dir) // a file, a directory or an index
	if err != nil {
		panic(err)
	}
	defer f.Close()
	fmt.Println(f.Names())
	info, _ := f.Info("embed.weight")
	fmt.Println(info.DType, info.Shape)
	w, _ := f.Float32("embed.weight")
	fmt.Println(w.Data)
	ids, shape, _ := f.Int64("generated_ids")
	fmt.Println(ids, shape)
	// Output:
	// [embed.weight generated_ids]
	// F32 [2 2]
	// [0.5 -1 2 4]
	// [7 11 13] [1 3]
}
