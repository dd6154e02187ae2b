package quant

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/fovea-ml/fovea/internal/blas"
)

// benchShapes are the SmolLM2-135M Linear shapes [Out, In]: down_proj,
// gate/up_proj, and the tied LM head.
var benchShapes = [][2]int{{576, 1536}, {1536, 576}, {49152, 576}}

// coldBytes is the weight footprint the benchmarks cycle through so that
// every pass streams from DRAM, as a decode step does (beyond L3).
const coldBytes = 256 << 20

// reportGemv reports GFLOP/s (2·m·Out·In per op) and GB/s of weight bytes.
func reportGemv(b *testing.B, m, out, in, weightBytes int) {
	s := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(2*float64(m*out*in)/s/1e9, "GFLOP/s")
	b.ReportMetric(float64(weightBytes)/s/1e9, "GB/s")
}

func BenchmarkGemv(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, sh := range benchShapes {
		out, in := sh[0], sh[1]
		copies := max(1, coldBytes/(4*out*in))
		ws := make([][]float32, copies)
		qs := make([]*Q8Matrix, copies)
		for c := range ws {
			w := randTensor(rng, 0.05, out, in)
			ws[c] = w.Data
			q, err := QuantizeQ8_0(w)
			if err != nil {
				b.Fatal(err)
			}
			qs[c] = q
		}
		x := randTensor(rng, 1, 1, in).Data
		y := make([]float32, out)
		name := fmt.Sprintf("%dx%d", out, in)
		b.Run("F32-Sgemm/"+name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				blas.Sgemm(false, true, 1, out, in, 1, x, in, ws[i%copies], in, 0, y, out)
			}
			reportGemv(b, 1, out, in, 4*out*in)
		})
		b.Run("F32-GemvT/"+name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				blas.GemvT(y, x, ws[i%copies], 1, out, in)
			}
			reportGemv(b, 1, out, in, 4*out*in)
		})
		for _, l := range SupportedLevels() {
			k := kernelFor(l)
			b.Run("Q8-"+l.String()+"/"+name, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					qs[i%copies].matMulT(k, y, x, 1)
				}
				reportGemv(b, 1, out, in, qs[0].Bytes())
			})
		}
	}
}
