package decoder

import (
	"math"
	"testing"
)

// FuzzGenerateOptions feeds arbitrary option values to
// GenerateOptions.Validate: it must never panic, and whatever it accepts
// must lie in the documented ranges (finite numbers; MaxNewTokens > 0;
// Temperature, TopK, RepetitionPenalty ≥ 0; TopP, MinP in [0, 1]; no
// negative stop token), so the sampler never sees NaN or Inf settings.
func FuzzGenerateOptions(f *testing.F) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, s := range []struct {
		n          int
		t, p, m, r float32
		k, stop    int
	}{
		{8, 0, 0, 0, 0, 0, 2}, {1, 0.7, 0.9, 0.05, 1.1, 40, 0}, {0, 0, 0, 0, 0, 0, 0},
		{math.MaxInt, 1e-45, 1, 0, 1e-45, 0, 0}, {1 << 40, nan, inf, -1, -inf, -1, -1},
		{-1, 2, 1.5, 2, 3e38, math.MaxInt, math.MinInt},
	} {
		f.Add(s.n, s.t, s.p, s.m, s.r, s.k, s.stop, uint64(7))
	}
	f.Fuzz(func(t *testing.T, maxNew int, temp, topP, minP, rep float32, topK, stop int, seed uint64) {
		o := GenerateOptions{MaxNewTokens: maxNew, Temperature: temp, TopK: topK, TopP: topP, MinP: minP,
			RepetitionPenalty: rep, Seed: seed, StopTokens: []int{stop}}
		if err := o.Validate(); err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		finite := func(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
		switch {
		case o.MaxNewTokens <= 0, o.TopK < 0, stop < 0:
			t.Fatalf("accepted out-of-range integers: %+v", o)
		case !finite(temp) || temp < 0, !finite(rep) || rep < 0:
			t.Fatalf("accepted temperature %v / repetition penalty %v", temp, rep)
		case !finite(topP) || topP < 0 || topP > 1, !finite(minP) || minP < 0 || minP > 1:
			t.Fatalf("accepted top_p %v / min_p %v", topP, minP)
		}
	})
}
