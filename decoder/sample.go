package decoder

import (
	"cmp"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
)

// pcgStream is the second word of the PCG seed; the first is the user's
// Seed. Fixed so that one Seed always gives one token stream.
const pcgStream = 0x666f766561 // "fovea"

// minTokensToKeep is HF's min_tokens_to_keep for every warper.
const minTokensToKeep = 1

var negInf = float32(math.Inf(-1))

// ApplyRepetitionPenalty is HF's RepetitionPenaltyLogitsProcessor: for
// every id in seen (duplicates count once), a positive logit is divided by
// penalty and a negative one multiplied by it. Ids outside logits are
// ignored.
func ApplyRepetitionPenalty(logits []float32, seen []int, penalty float32) {
	if penalty == 1 || penalty == 0 {
		return
	}
	done := make(map[int]bool, len(seen))
	for _, id := range seen {
		if id < 0 || id >= len(logits) || done[id] {
			continue
		}
		done[id] = true
		if s := logits[id]; s < 0 {
			logits[id] = s * penalty
		} else {
			logits[id] = s / penalty
		}
	}
}

// ApplyTemperature is HF's TemperatureLogitsWarper: logits / t.
func ApplyTemperature(logits []float32, t float32) {
	if t == 1 || t <= 0 {
		return
	}
	for i := range logits {
		logits[i] /= t
	}
}

// ApplyTopK is HF's TopKLogitsWarper: every logit below the k-th largest
// becomes -Inf (ties with the k-th are kept). k ≤ 0 disables it.
func ApplyTopK(logits []float32, k int) {
	if k <= 0 {
		return
	}
	k = min(max(k, minTokensToKeep), len(logits))
	sorted := slices.Clone(logits)
	slices.SortFunc(sorted, func(a, b float32) int { return cmp.Compare(b, a) })
	kth := sorted[k-1]
	for i, v := range logits {
		if v < kth {
			logits[i] = negInf
		}
	}
}

// softmax64 returns softmax(logits) in float64 (-Inf gives 0).
func softmax64(logits []float32) []float64 {
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = math.Max(mx, float64(v))
	}
	p := make([]float64, len(logits))
	if math.IsInf(mx, -1) {
		return p
	}
	var sum float64
	for i, v := range logits {
		p[i] = math.Exp(float64(v) - mx)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}

// ApplyTopP is HF's TopPLogitsWarper (nucleus): sort ascending, and drop
// the tokens whose cumulative probability is ≤ 1 - p, always keeping the
// most likely one. p ≤ 0 or p ≥ 1 disables it.
func ApplyTopP(logits []float32, p float32) {
	if p <= 0 || p >= 1 {
		return
	}
	probs := softmax64(logits)
	idx := make([]int, len(logits))
	for i := range idx {
		idx[i] = i
	}
	// Ascending by logit; ties by descending index so that, as with a stable
	// descending order, the lower index counts as more likely.
	slices.SortFunc(idx, func(a, b int) int {
		if c := cmp.Compare(logits[a], logits[b]); c != 0 {
			return c
		}
		return cmp.Compare(b, a)
	})
	cut := 1 - float64(p)
	var cum float64
	for r, i := range idx {
		cum += probs[i]
		if cum <= cut && r < len(idx)-minTokensToKeep {
			logits[i] = negInf
		}
	}
}

// ApplyMinP is HF's MinPLogitsWarper: drop every token whose probability
// is below p times the largest probability, keeping at least the most
// likely one. p ≤ 0 disables it.
func ApplyMinP(logits []float32, p float32) {
	if p <= 0 {
		return
	}
	probs := softmax64(logits)
	top := slices.Max(probs)
	thresh := float64(p) * top
	best := argmax(logits)
	for i, q := range probs {
		if q < thresh && i != best {
			logits[i] = negInf
		}
	}
}

// argmax returns the index of the largest logit (the first on ties, as
// torch.argmax).
func argmax(logits []float32) int {
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	return best
}

// Sampler picks the next token from a row of logits with HF's default
// processor order: repetition penalty, then (when sampling) temperature,
// top-k, top-p, min-p, and a draw from the softmax. Temperature 0 is
// greedy: argmax after the repetition penalty (HF do_sample=False applies
// no warpers). A Sampler is not safe for concurrent use.
type Sampler struct {
	opts GenerateOptions
	rng  *rand.Rand
}

// NewSampler returns a sampler seeded with opts.Seed.
func NewSampler(opts GenerateOptions) *Sampler {
	return &Sampler{opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, pcgStream))}
}

// Next chooses a token from logits [V] (modified in place) given the ids
// seen so far (prompt and generated) for the repetition penalty. Logits
// that the processors turn non-finite give the argmax of what is left;
// Generate reports them as an error instead.
func (s *Sampler) Next(logits []float32, seen []int) int {
	tok, _ := s.next(logits, seen)
	return tok
}

// errInvalidProbs is torch.multinomial's complaint, which HF's sampling
// raises for the same logits.
var errInvalidProbs = errors.New("probability tensor contains either `inf`, `nan` or element < 0")

// next is Next that refuses logits the processors made non-finite (a
// temperature or penalty so small that the division overflows float32).
func (s *Sampler) next(logits []float32, seen []int) (int, error) {
	o := &s.opts
	ApplyRepetitionPenalty(logits, seen, o.RepetitionPenalty)
	if o.Temperature == 0 {
		best := argmax(logits)
		if err := checkProcessed(logits); err != nil {
			return best, err
		}
		return best, nil
	}
	ApplyTemperature(logits, o.Temperature)
	if err := checkProcessed(logits); err != nil {
		return argmax(logits), err
	}
	ApplyTopK(logits, o.TopK)
	ApplyTopP(logits, o.TopP)
	ApplyMinP(logits, o.MinP)
	return drawFrom(softmax64(logits), s.rng.Float64()), nil
}

// checkProcessed refuses NaN or +Inf after the logits processors.
func checkProcessed(logits []float32) error {
	for _, v := range logits {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 1) {
			return errInvalidProbs
		}
	}
	return nil
}

// drawFrom returns the index where the cumulative sum of probs passes u in
// [0, 1) (inverse-CDF draw), never a zero-probability index.
func drawFrom(probs []float64, u float64) int {
	var cum float64
	last := -1
	for i, p := range probs {
		if p == 0 {
			continue
		}
		cum += p
		last = i
		if u < cum {
			return i
		}
	}
	return last // rounding left u ≥ the total: the last possible token
}
