package backend

import (
	"fmt"
	"testing"

	"github.com/fovea-ml/fovea/internal/blas"
)

// Benchmarks of the fused attention kernel ("fast") against the former
// eager kernel ("naive": whole score matrix per head, blas.Sgemm, float64
// softmax) on the shapes of the performance targets: SmolLM2-135M prefill (9 heads,
// 3 kv heads, Dh 64) at 256 and 1024 tokens, one decode step over 1024
// cached positions, and a CLIP ViT-B/16 layer (12 heads, 197 tokens,
// non-causal).
func BenchmarkAttention(b *testing.B) {
	shapes := []struct {
		name string
		c    attnCase
	}{
		{"prefill256", attnCase{b: 1, h: 9, kvh: 3, tq: 256, tk: 256, dh: 64, causal: true, cached: -1}},
		{"prefill1024", attnCase{b: 1, h: 9, kvh: 3, tq: 1024, tk: 1024, dh: 64, causal: true, cached: -1}},
		{"decode80", attnCase{b: 1, h: 9, kvh: 3, tq: 1, tk: 1, dh: 64, causal: true, cached: 79}},
		{"decode1024", attnCase{b: 1, h: 9, kvh: 3, tq: 1, tk: 1, dh: 64, causal: true, cached: 1023}},
		{"vit197", attnCase{b: 1, h: 12, kvh: 12, tq: 197, tk: 197, dh: 64, cached: -1}},
	}
	for _, s := range shapes {
		for _, fast := range []bool{true, false} {
			name := "naive"
			if fast {
				name = "fast"
			}
			b.Run(fmt.Sprintf("%s/%s", s.name, name), func(b *testing.B) {
				q, k, v, opt := attnInputs(s.c, 1)
				cache := opt.Cache
				out := make([]float32, s.c.b*s.c.h*s.c.tq*s.c.dh)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if cache != nil {
						b.StopTimer()
						cache.Truncate(s.c.cached) // drop the step appended last time
						b.StartTimer()
					}
					p := newAttnProblem(q, k, v, opt)
					if fast {
						attend(&p, out)
					} else {
						attentionNaive(&p, out, blas.Sgemm)
					}
				}
			})
		}
	}
}
