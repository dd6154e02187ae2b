package projector_test

import (
	"fmt"
	"log"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/fovea-ml/fovea/projector"
)

// ExampleSplice expands a legacy prompt (one image token, id 9) and writes
// the image's feature rows into its embedding rows.
func ExampleSplice() {
	const imageToken, patches = 9, 2
	ids, legacy, err := projector.ExpandImageTokens([]int{1, imageToken, 2}, imageToken, 16, patches, 1)
	if err != nil {
		log.Fatal(err)
	}
	embeds := tensor.FromData([]float32{10, 11, 12, 13}, len(ids), 1) // [T=4, D=1]
	features := tensor.FromData([]float32{-1, -2}, 1, patches, 1)     // [N=1, P=2, D=1]
	var b backend.Eager
	merged, err := projector.Splice(b, embeds, ids, imageToken, features)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ids, legacy, backend.T(merged).Data)
	// Output: [1 9 9 2] true [10 -1 -2 13]
}
