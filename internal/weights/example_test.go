package weights_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/fovea-ml/fovea/internal/weights"
)

type block struct {
	W *tensor.Tensor `weight:"proj.weight"`
	B *tensor.Tensor `weight:"proj.bias,optional"`
}

type net struct {
	Blocks []block        `weight:"blocks"`
	Embed  *tensor.Tensor `weight:"embed.weight"`
	Head   *tensor.Tensor `weight:"head.weight,tied=embed.weight"`
}

func ExampleBind() {
	dir, _ := os.MkdirTemp("", "weights-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.safetensors")
	_ = safetensors.Write(path, map[string]*tensor.Tensor{
		"model.blocks.0.proj.weight": tensor.FromData([]float32{1, 2, 3, 4}, 2, 2),
		"model.blocks.1.proj.weight": tensor.FromData([]float32{5, 6, 7, 8}, 2, 2),
		"model.blocks.1.proj.bias":   tensor.FromData([]float32{0.5, -0.5}, 2),
		"model.embed.weight":         tensor.FromData([]float32{9, 9, 9, 9, 9, 9}, 3, 2),
	}, nil)
	src, err := safetensors.Open(path)
	if err != nil {
		panic(err)
	}
	defer src.Close()

	// The constructor allocates every tensor with its expected shape.
	m := &net{Embed: tensor.New(3, 2), Head: tensor.New(3, 2)}
	for i := 0; i < 2; i++ {
		m.Blocks = append(m.Blocks, block{W: tensor.New(2, 2), B: tensor.New(2)})
	}
	if err := weights.Bind(src, "model.", m); err != nil {
		panic(err)
	}
	fmt.Println(m.Blocks[1].W.Data, m.Blocks[1].B.Data)
	fmt.Println(m.Blocks[0].B == nil, m.Head == m.Embed)

	// A wrong shape is reported with the name, the wanted and found shapes.
	m.Blocks[0].W = tensor.New(4, 1)
	fmt.Println(weights.Bind(src, "model.", m))
	// Output:
	// [5 6 7 8] [0.5 -0.5]
	// true true
	// weights: bind failed:
	//   1 shape mismatch:
	//     model.blocks.0.proj.weight: want [4 1], got [2 2]
}
