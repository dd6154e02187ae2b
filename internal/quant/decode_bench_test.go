package quant

import (
	"math/rand/v2"
	"testing"

	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/tensor"
)

const (
	// benchInitStd is the spread of the random benchmark weights.
	benchInitStd = 0.02
	// benchPromptLen is the prompt prefilled before the timed decode steps.
	benchPromptLen = 16
	// benchDecodeSteps is the number of timed decode steps per iteration.
	benchDecodeSteps = 64
	// benchPrefillLen is the prompt length of BenchmarkPrefill.
	benchPrefillLen = 256
)

// smolLM2 builds a SmolLM2-135M-shaped model with seeded random weights
// (norm weights 1), its Q8_0 table and its pre-packed float32 table
// (backend.PrepareF32 of the same Linear weights): for timing only.
func smolLM2(b *testing.B) (*decoder.Model, map[string]backend.Eager) {
	cfg := config.SmolLM2_135M()
	m, err := decoder.New(&cfg)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(11, 12))
	for _, nt := range decoderTensors(b, m) {
		for i := range nt.W.Data {
			if nt.W.Dims() == 1 {
				nt.W.Data[i] = 1
			} else {
				nt.W.Data[i] = float32(rng.NormFloat64() * benchInitStd)
			}
		}
	}
	qm, err := QuantizeModel(decoderTensors(b, m))
	if err != nil {
		b.Fatal(err)
	}
	var lin []*tensor.Tensor
	for _, nt := range decoderTensors(b, m) {
		if Quantizable(nt.Name) {
			lin = append(lin, nt.W)
		}
	}
	packed, err := backend.PrepareF32(lin)
	if err != nil {
		b.Fatal(err)
	}
	return m, map[string]backend.Eager{"F32": {}, "F32packed": {Prepared: packed}, "Q8": {Prepared: qm}}
}

func tokens(n, vocab int) []int {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = (i*7919 + 1) % vocab
	}
	return ids
}

// BenchmarkDecodeQ8 times benchDecodeSteps decode steps (T = 1, LM head
// included) after a short prompt on the SmolLM2-135M shape, float32 and
// Q8_0 weights in the same run, and reports tokens per second.
func BenchmarkDecodeQ8(b *testing.B) {
	m, backends := smolLM2(b)
	vocab := m.Config().VocabSize
	for _, name := range []string{"F32", "Q8"} {
		be := backends[name]
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				st := m.NewState(1)
				st.Reserve(benchPromptLen + benchDecodeSteps)
				x, err := m.Embed(be, [][]int{tokens(benchPromptLen, vocab)})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := m.Hidden(be, x, st); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				for s := 0; s < benchDecodeSteps; s++ {
					x, err := m.Embed(be, [][]int{{(s*31 + 5) % vocab}})
					if err != nil {
						b.Fatal(err)
					}
					if _, err := m.Forward(be, x, st); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N*benchDecodeSteps)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}

// BenchmarkPrefill times one benchPrefillLen-token prompt through the
// stack (LM head on the last position only, as generation does).
func BenchmarkPrefill(b *testing.B) {
	m, backends := smolLM2(b)
	vocab := m.Config().VocabSize
	for _, name := range []string{"F32", "F32packed", "Q8"} {
		be := backends[name]
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				x, err := m.Embed(be, [][]int{tokens(benchPrefillLen, vocab)})
				if err != nil {
					b.Fatal(err)
				}
				h, err := m.Hidden(be, x, m.NewState(1))
				if err != nil {
					b.Fatal(err)
				}
				last := be.Slice(h, 1, benchPrefillLen-1, benchPrefillLen) // [1, 1, D]
				_ = m.Logits(be, last)
			}
			b.ReportMetric(float64(b.N*benchPrefillLen)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}
