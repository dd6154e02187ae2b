package decoder

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// kept lists the indices whose logit is still finite.
func kept(logits []float32) []int {
	var out []int
	for i, v := range logits {
		if !math.IsInf(float64(v), -1) {
			out = append(out, i)
		}
	}
	return out
}

// logProbs returns log(p) for each p: logits whose softmax is exactly p.
func logProbs(ps ...float64) []float32 {
	out := make([]float32, len(ps))
	for i, p := range ps {
		out[i] = float32(math.Log(p))
	}
	return out
}

func TestRepetitionPenalty(t *testing.T) {
	l := []float32{2, -1, 0.5, 3}
	ApplyRepetitionPenalty(l, []int{0, 1, 1, 99}, 2) // duplicates once, 99 out of range
	require.Equal(t, []float32{1, -2, 0.5, 3}, l)
	l = []float32{2, -1}
	ApplyRepetitionPenalty(l, []int{0, 1}, 1)
	require.Equal(t, []float32{2, -1}, l)
}

func TestTemperature(t *testing.T) {
	l := []float32{2, 4, -6}
	ApplyTemperature(l, 2)
	require.Equal(t, []float32{1, 2, -3}, l)
}

func TestTopK(t *testing.T) {
	for _, c := range []struct {
		k    int
		want []int
	}{
		{1, []int{1, 3}},           // ties with the k-th largest are kept (HF: scores < kth removed)
		{2, []int{1, 3}},           // k-th largest is 3
		{3, []int{1, 2, 3}},        // k-th largest is 2
		{10, []int{0, 1, 2, 3, 4}}, // k past the vocabulary keeps everything
		{0, []int{0, 1, 2, 3, 4}},  // off
	} {
		l := []float32{1, 3, 2, 3, 0}
		ApplyTopK(l, c.k)
		require.Equal(t, c.want, kept(l), "k=%d", c.k)
	}
}

func TestTopP(t *testing.T) {
	// probabilities 0.5, 0.3, 0.15, 0.05; ascending cumulative sums
	// 0.05, 0.2, 0.5, 1.0; HF drops tokens whose sum ≤ 1 - p.
	for _, c := range []struct {
		p    float32
		want []int
	}{
		{0.9, []int{0, 1, 2}},  // cut 0.1: drops 0.05
		{0.75, []int{0, 1}},    // cut 0.25: drops 0.05, 0.15
		{0.4, []int{0}},        // cut 0.6: only the top token survives
		{0.01, []int{0}},       // the top token is always kept
		{1, []int{0, 1, 2, 3}}, // off
	} {
		l := logProbs(0.5, 0.3, 0.15, 0.05)
		ApplyTopP(l, c.p)
		require.Equal(t, c.want, kept(l), "p=%v", c.p)
	}
}

func TestMinP(t *testing.T) {
	for _, c := range []struct {
		p    float32
		want []int
	}{
		{0.4, []int{0, 1}},        // threshold 0.2
		{0.05, []int{0, 1, 2, 3}}, // threshold 0.025
		{1, []int{0}},             // only the top token
	} {
		l := logProbs(0.5, 0.3, 0.15, 0.05)
		ApplyMinP(l, c.p)
		require.Equal(t, c.want, kept(l), "p=%v", c.p)
	}
}

func TestGreedyAfterPenalty(t *testing.T) {
	s := NewSampler(GenerateOptions{MaxNewTokens: 1, RepetitionPenalty: 2})
	// 3 → 1.5 after the penalty, so token 1 (2.5) wins.
	require.Equal(t, 1, s.Next([]float32{3, 2.5}, []int{0}))
	require.Equal(t, 0, s.Next([]float32{3, 2.5}, nil))
	// Ties go to the first index, as torch.argmax.
	require.Equal(t, 1, NewSampler(GenerateOptions{MaxNewTokens: 1}).Next([]float32{0, 4, 4}, nil))
}

func TestDrawFrom(t *testing.T) {
	p := []float64{0.5, 0.3, 0, 0.2}
	require.Equal(t, 0, drawFrom(p, 0.1))
	require.Equal(t, 1, drawFrom(p, 0.6))
	require.Equal(t, 3, drawFrom(p, 0.85))
	require.Equal(t, 3, drawFrom(p, 0.99999999))
}

// TestSamplerFrequencies: with temperature 1 the draw follows softmax; a
// top-k of 2 never picks the third token and renormalises the other two.
func TestSamplerFrequencies(t *testing.T) {
	const draws = 20000
	const tol = 0.02
	count := func(opts GenerateOptions) []float64 {
		s := NewSampler(opts)
		freq := make([]float64, 3)
		for i := 0; i < draws; i++ {
			freq[s.Next(logProbs(0.5, 0.3, 0.2), nil)] += 1.0 / draws
		}
		return freq
	}
	f := count(GenerateOptions{MaxNewTokens: 1, Temperature: 1, Seed: 1})
	require.InDeltaSlice(t, []float64{0.5, 0.3, 0.2}, f, tol)
	f = count(GenerateOptions{MaxNewTokens: 1, Temperature: 1, TopK: 2, Seed: 2})
	require.Zero(t, f[2])
	require.InDeltaSlice(t, []float64{0.625, 0.375, 0}, f, tol)
}
