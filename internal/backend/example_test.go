package backend_test

import (
	"fmt"
	"math"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// One query attends over two keys. With the default scale 1/√Dh the
// scores are [ln 3, 0], so the weights are [3/4, 1/4] and the output is
// ¾·v₀ + ¼·v₁.
func ExampleEager_Attention() {
	var e backend.Eager
	q := tensor.FromData([]float32{float32(math.Sqrt2 * math.Log(3)), 0}, 1, 1, 1, 2) // [B, H, Tq, Dh]
	k := tensor.FromData([]float32{1, 0, 0, 1}, 1, 1, 2, 2)                           // [B, KVH, Tk, Dh]
	v := tensor.FromData([]float32{1, 2, 3, 4}, 1, 1, 2, 2)                           // [B, KVH, Tk, Dh]
	out := backend.T(e.Attention(q, k, v, backend.AttnOpts{}))
	fmt.Printf("%v %.4f\n", out.Shape, out.Data)

	// The same keys through a KV cache, causally: the first query sees
	// only key 0, the second (a decode step) sees both.
	cache := backend.NewKVCache(1, 1, 2)
	first := backend.T(e.Attention(tensor.FromData([]float32{0, 0}, 1, 1, 1, 2), e.Slice(k, 2, 0, 1), e.Slice(v, 2, 0, 1),
		backend.AttnOpts{Causal: true, Cache: cache}))
	step := backend.T(e.Attention(q, e.Slice(k, 2, 1, 2), e.Slice(v, 2, 1, 2), backend.AttnOpts{Causal: true, Cache: cache}))
	fmt.Printf("%.4f %.4f cached=%d\n", first.Data, step.Data, cache.Len())
	// Output:
	// [1 1 1 2] [1.5000 2.5000]
	// [1.0000 2.0000] [1.5000 2.5000] cached=2
}

// A Linear weight packed once by PrepareF32 gives the same product as the
// row-major weight: y = x·Wᵀ with W [[1 2] [3 4] [5 6]].
func ExamplePrepareF32() {
	w := tensor.FromData([]float32{1, 2, 3, 4, 5, 6}, 3, 2) // [Out 3, In 2]
	prep, err := backend.PrepareF32([]*tensor.Tensor{w})
	if err != nil {
		panic(err)
	}
	e := backend.Eager{Prepared: prep}
	x := tensor.FromData([]float32{1, 1, 2, 0}, 2, 2) // [2, In]
	y := backend.T(e.Linear(x, e.Weight(w), nil))     // [2, Out]
	fmt.Println(y.Data)
	// Output: [3 7 11 2 6 10]
}
