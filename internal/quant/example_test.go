package quant_test

import (
	"fmt"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/quant"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// ExampleQ8Matrix_MatMulT compresses a 2×64 weight and multiplies one
// activation row with it in int8.
func ExampleQ8Matrix_MatMulT() {
	w := tensor.New(2, 64)
	x := make([]float32, 64)
	for j := range 64 {
		w.Data[j] = 1                     // row 0: all ones
		w.Data[64+j] = float32(j%4) - 1.5 // row 1: -1.5 -0.5 0.5 1.5 ...
		x[j] = 0.25
	}
	q, err := quant.QuantizeQ8_0(w)
	if err != nil {
		panic(err)
	}
	y := make([]float32, 2)
	q.MatMulT(y, x, 1) // y [1, 2] = x [1, 64] · Wᵀ
	fmt.Printf("y = [%.3f %.3f], %d bytes\n", y[0], y[1], q.Bytes())
	// Output: y = [16.000 0.000], 144 bytes
}

// ExampleQuantizeModel quantizes the Linear weights of a tagged struct
// and hands them to the eager backend.
func ExampleQuantizeModel() {
	type block struct {
		Norm *tensor.Tensor `weight:"input_layernorm.weight"`
		Q    *tensor.Tensor `weight:"self_attn.q_proj.weight"`
	}
	blk := &block{Norm: tensor.New(64), Q: tensor.New(64, 64)}
	ts, err := quant.TensorsOf("model.layers.0.", blk)
	if err != nil {
		panic(err)
	}
	qm, err := quant.QuantizeModel(ts)
	if err != nil {
		panic(err)
	}
	be := backend.Eager{Prepared: qm}
	_, isQ := be.Weight(blk.Q).(backend.PreparedMatrix)
	_, normQ := be.Weight(blk.Norm).(backend.PreparedMatrix)
	fmt.Println(len(ts), "tensors;", "q_proj quantized:", isQ, "norm quantized:", normQ)
	// Output: 2 tensors; q_proj quantized: true norm quantized: false
}
