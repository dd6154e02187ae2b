package decoder

import (
	"math/rand/v2"
	"testing"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/fovea-ml/fovea/internal/weights"
)

// benchInitStd is the spread of the random benchmark weights.
const benchInitStd = 0.02

// randomModel builds a model for cfg with seeded random weights (unit
// norm weights): for timing only.
func randomModel(b *testing.B, cfg *config.Llama) *Model {
	m, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	fill := func(t *tensor.Tensor, norm bool) {
		for i := range t.Data {
			if norm {
				t.Data[i] = 1
			} else {
				t.Data[i] = float32(rng.NormFloat64() * benchInitStd)
			}
		}
	}
	fill(m.EmbedTokens, false)
	fill(m.Norm, true)
	if m.LMHead != m.EmbedTokens {
		fill(m.LMHead, false)
	}
	for _, l := range m.Layers {
		err := weights.Walk(l, func(name string, t **tensor.Tensor, _ bool) error {
			if *t != nil {
				fill(*t, (*t).Dims() == 1)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return m
}

// BenchmarkDecodeSmolLM2 times one decode step (T = 1, LM head included)
// of a SmolLM2-135M-shaped model with random weights after a 32-token
// prompt.
func BenchmarkDecodeSmolLM2(b *testing.B) {
	cfg := config.SmolLM2_135M()
	m := randomModel(b, &cfg)
	for _, v := range benchBackends(b, m) {
		b.Run(v.name, func(b *testing.B) { benchDecode(b, m, v.be) })
	}
}

// benchVariant is one eager configuration the benchmarks compare.
type benchVariant struct {
	name string
	be   backend.Eager
}

// benchBackends returns the plain eager backend and one with every Linear
// weight (LM head included) pre-packed by backend.PrepareF32.
func benchBackends(b *testing.B, m *Model) []benchVariant {
	ts := []*tensor.Tensor{m.LMHead}
	for _, l := range m.Layers {
		err := weights.Walk(l, func(_ string, t **tensor.Tensor, _ bool) error {
			ts = append(ts, *t)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	prep, err := backend.PrepareF32(ts)
	if err != nil {
		b.Fatal(err)
	}
	return []benchVariant{{"rowmajor", backend.Eager{}}, {"packed", backend.Eager{Prepared: prep}}}
}

func benchDecode(b *testing.B, m *Model, be backend.Eager) {
	const promptLen = 32
	cfg := m.Config()
	prompt := make([]int, promptLen)
	for i := range prompt {
		prompt[i] = i + 1
	}
	newState := func() *State {
		st := m.NewState(1)
		x, err := m.Embed(be, [][]int{prompt})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Hidden(be, x, st); err != nil {
			b.Fatal(err)
		}
		return st
	}
	st := newState()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if st.Pos() >= cfg.MaxPositionEmbeddings {
			b.StopTimer()
			st = newState()
			b.StartTimer()
		}
		x, err := m.Embed(be, [][]int{{i%cfg.VocabSize + 1}})
		if err != nil {
			b.Fatal(err)
		}
		h, err := m.Hidden(be, x, st)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.lastLogits(be, h); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tok/s")
}

// BenchmarkPrefillSmolLM2 times a 256-token prefill (no LM head) of a
// SmolLM2-135M-shaped model with random weights.
func BenchmarkPrefillSmolLM2(b *testing.B) {
	cfg := config.SmolLM2_135M()
	m := randomModel(b, &cfg)
	for _, v := range benchBackends(b, m) {
		b.Run(v.name, func(b *testing.B) { benchPrefill(b, m, v.be) })
	}
}

func benchPrefill(b *testing.B, m *Model, be backend.Eager) {
	const promptLen = 256
	cfg := m.Config()
	prompt := make([]int, promptLen)
	for i := range prompt {
		prompt[i] = (i*7919)%cfg.VocabSize + 1
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st := m.NewState(1)
		x, err := m.Embed(be, [][]int{prompt})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Hidden(be, x, st); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*promptLen)/b.Elapsed().Seconds(), "tok/s")
}
