package graph_test

import (
	"context"
	"fmt"

	"github.com/fovea-ml/fovea/internal/backend/graph"
	ft "github.com/fovea-ml/fovea/internal/tensor"
)

// A training step: build the graph once for a shape bucket, add the
// gradients, compile, then run and update with AdamW. With an all-zero
// projection the logits are zero, so the first loss is ln(4).
func ExampleBackend() {
	w := ft.New(4, 3) // [V, D] projection, trainable
	be := graph.New(graph.Options{})
	x := be.Const(ft.FromData([]float32{1, 2, 3, -1, 0, 1}, 2, 3)) // [T, D]
	logits := be.Linear(x, be.Weight(w), nil)                      // [T, V]
	loss := be.CrossEntropy(logits, []int{2, 0}, -100)
	if err := be.Backward(loss); err != nil {
		panic(err)
	}
	m, err := be.Compile()
	if err != nil {
		panic(err)
	}
	defer m.Close()
	opt := graph.NewAdamW(0.1, 0)
	for step := 0; step < 3; step++ {
		if err := m.Run(context.Background()); err != nil {
			panic(err)
		}
		l, _ := be.Read(loss)
		fmt.Printf("step %d loss %.4f\n", step, l.Data[0])
		if err := opt.Step(be.Params()); err != nil {
			panic(err)
		}
	}
	// Output:
	// step 0 loss 1.3863
	// step 1 loss 0.9967
	// step 2 loss 0.7234
}
