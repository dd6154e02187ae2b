package fovea

import (
	"context"
	"testing"

	"github.com/fovea-ml/fovea/internal/tensor"
)

// TestMinWeightsBoundsGoldens checks the weight-count lower bound against
// what each golden model really binds: never above it (a real checkpoint
// must load), and close to it (the bound is what limits allocation).
func TestMinWeightsBoundsGoldens(t *testing.T) {
	for _, dir := range []string{"testdata/llama_tiny", "testdata/clip_tiny", "testdata/llava_tiny", "testdata/mllama_tiny"} {
		m, err := Load(context.Background(), dir, WithQuantization(F32Compact), WithoutTokenizer())
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		ts, err := namedWeights(m.impl)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[*tensor.Tensor]bool{}
		var bound int64
		for _, nt := range ts {
			if !seen[nt.W] {
				seen[nt.W] = true
				bound += int64(tensor.Numel(nt.W.Shape))
			}
		}
		need := m.cfg.MinWeights()
		if need > bound || float64(need) < 0.9*float64(bound) {
			t.Errorf("%s: MinWeights %d, model binds %d values: want within [0.9, 1]", dir, need, bound)
		}
	}
}
