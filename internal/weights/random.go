package weights

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/fovea-ml/fovea/internal/tensor"
)

// Randomize fills the tensors of freshly constructed models with seeded
// random values, for benchmarks and smoke tests of shapes that have no
// checkpoint: every 1-D tensor named "*.weight" (a norm or layer-scale
// weight) becomes 1, every "*.bias" 0, gates 0 and everything else draws
// from N(0, std²). Each part is a tagged struct (walked like Walk) or a
// bare *tensor.Tensor; shared tensors are filled once.
func Randomize(seed uint64, std float64, parts ...any) error {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	seen := map[*tensor.Tensor]bool{}
	fill := func(name string, t *tensor.Tensor) {
		if t == nil || seen[t] {
			return
		}
		seen[t] = true
		switch {
		case strings.HasSuffix(name, "bias") || strings.Contains(name, "gate") && t.Len() == 1:
			clear(t.Data)
		case t.Dims() == 1 && strings.HasSuffix(name, "weight"):
			for i := range t.Data {
				t.Data[i] = 1
			}
		default:
			for i := range t.Data {
				t.Data[i] = float32(rng.NormFloat64() * std)
			}
		}
	}
	for i, p := range parts {
		if t, ok := p.(*tensor.Tensor); ok {
			fill("", t)
			continue
		}
		err := Walk(p, func(name string, t **tensor.Tensor, _ bool) error {
			fill(name, *t)
			return nil
		})
		if err != nil {
			return fmt.Errorf("weights.Randomize: part %d (%T): %w", i, p, err)
		}
	}
	return nil
}
