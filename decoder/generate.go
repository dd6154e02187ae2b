package decoder

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"

	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// GenerateOptions configures Generate. Zero values disable each processor,
// so the zero value plus MaxNewTokens is greedy decoding.
type GenerateOptions struct {
	// MaxNewTokens is the most tokens to generate (> 0). Nothing is
	// allocated from it: the KV cache grows as tokens are generated, and
	// generation also ends when the context window is full.
	MaxNewTokens int
	// Temperature divides the logits before sampling; 0 means greedy
	// (argmax, no sampling warpers, as HF do_sample=False).
	Temperature float32
	// TopK keeps the k most likely tokens (0: off).
	TopK int
	// TopP keeps the smallest set of tokens whose probability reaches p
	// (0 or 1: off).
	TopP float32
	// MinP drops tokens less likely than MinP × the top probability (0: off).
	MinP float32
	// RepetitionPenalty (HF CTRL penalty) over PromptIDs and generated ids
	// (0 or 1: off; otherwise > 0).
	RepetitionPenalty float32
	// Seed seeds the PCG source: one Seed, one token stream.
	Seed uint64
	// StopTokens end generation; the stop token itself is yielded (HF keeps
	// EOS in its output).
	StopTokens []int
	// PromptIDs are the prompt's token ids, seen by the repetition penalty
	// (the prefill is embeddings, so the ids must be given separately).
	PromptIDs []int
	// TopLogprobs asks each Step for the log-probabilities of the k most
	// likely tokens (0: none; at most MaxTopLogprobs).
	TopLogprobs int
}

// MaxTopLogprobs bounds GenerateOptions.TopLogprobs.
const MaxTopLogprobs = 100

// minDivisor is the least Temperature or RepetitionPenalty whose
// reciprocal is a finite float32: dividing a logit by anything smaller can
// overflow to +Inf.
const minDivisor = 1 / math.MaxFloat32

// Validate reports the first out-of-range option, in HF's words where its
// logits processors have them.
func (o *GenerateOptions) Validate() error {
	isFinite := func(f float32) bool { return !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0) }
	switch {
	case o.MaxNewTokens <= 0:
		return fmt.Errorf("decoder: MaxNewTokens %d must be positive", o.MaxNewTokens)
	case !isFinite(o.Temperature) || o.Temperature < 0:
		return fmt.Errorf("decoder: Temperature: `temperature` (=%v) has to be a strictly positive float, otherwise your next token scores will be invalid (0 = greedy)", o.Temperature)
	case o.Temperature > 0 && o.Temperature < minDivisor:
		return fmt.Errorf("decoder: Temperature: `temperature` (=%v) is so small that the scaled logits overflow float32 (least %v)", o.Temperature, float32(minDivisor))
	case o.TopK < 0:
		return fmt.Errorf("decoder: TopK: `top_k` has to be a strictly positive integer, but is %d (0 = off)", o.TopK)
	case !isFinite(o.TopP) || o.TopP < 0 || o.TopP > 1:
		return fmt.Errorf("decoder: TopP: `top_p` has to be a float > 0 and < 1, but is %v (0 or 1 = off)", o.TopP)
	case !isFinite(o.MinP) || o.MinP < 0 || o.MinP > 1:
		return fmt.Errorf("decoder: MinP: `min_p` has to be a float in the [0, 1] interval, but is %v", o.MinP)
	case !isFinite(o.RepetitionPenalty) || o.RepetitionPenalty < 0:
		return fmt.Errorf("decoder: RepetitionPenalty: `penalty` has to be a strictly positive float, but is %v (0 = off)", o.RepetitionPenalty)
	case o.RepetitionPenalty > 0 && o.RepetitionPenalty < minDivisor:
		return fmt.Errorf("decoder: RepetitionPenalty: `penalty` (=%v) is so small that the penalized logits overflow float32 (least %v)", o.RepetitionPenalty, float32(minDivisor))
	case o.TopLogprobs < 0 || o.TopLogprobs > MaxTopLogprobs:
		return fmt.Errorf("decoder: TopLogprobs %d must lie in [0, %d]", o.TopLogprobs, MaxTopLogprobs)
	}
	for _, id := range o.StopTokens {
		if id < 0 {
			return fmt.Errorf("decoder: stop token %d is negative", id)
		}
	}
	return nil
}

// errNotEager is returned when Generate runs on a backend whose values are
// not eager tensors: sampling needs the numbers.
var errNotEager = errors.New("decoder: Generate needs an eager backend (values must be *tensor.Tensor)")

// lastLogits applies the LM head to the last position of h [1, T, D] and
// returns the row [V].
func (m *Model) lastLogits(b Backend, h Value) ([]float32, error) {
	t := b.Shape(h)[1]
	if t > 1 {
		h = b.Slice(h, 1, t-1, t) // [1, 1, D]
	}
	lt, ok := m.Logits(b, h).(*tensor.Tensor) // [1, 1, V]
	if !ok || lt == nil {
		return nil, errNotEager
	}
	return lt.Data, nil
}

// Generate prefills st with prefill [1, T, D] and streams new token ids.
// Each step yields (id, nil); on failure it yields (0, err) once and ends.
// It stops after MaxNewTokens, after yielding a stop token, when ctx is
// done (checked before every step; yields ctx.Err()), or quietly when the
// sequence (cached + generated) fills max_position_embeddings. A prefill
// that does not fit the context yields an error; non-finite logits end it
// with an error. The last token yielded is not fed back, so st ends one
// position short of the full sequence. Stopping the iteration early is
// allowed. Eager backend only. NewGenerator gives the same run step by
// step, with the finish reason and log-probabilities.
func (m *Model) Generate(ctx context.Context, b Backend, st *State, prefill Value, opts GenerateOptions) iter.Seq2[int, error] {
	return func(yield func(int, error) bool) {
		g, err := m.NewGenerator(ctx, b, st, prefill, opts)
		if err != nil {
			yield(0, err)
			return
		}
		for g.Next(ctx) {
			if !yield(g.Step().ID, nil) {
				return
			}
		}
		if err := g.Err(); err != nil {
			yield(0, err)
		}
	}
}

func isStop(tok int, stops []int) bool {
	for _, s := range stops {
		if tok == s {
			return true
		}
	}
	return false
}

// Greedy runs Generate with greedy decoding (temperature 0, no penalty)
// and collects the ids.
func (m *Model) Greedy(ctx context.Context, b Backend, st *State, prefill Value, maxNew int, stop ...int) ([]int, error) {
	var out []int
	for tok, err := range m.Generate(ctx, b, st, prefill, GenerateOptions{MaxNewTokens: maxNew, StopTokens: stop}) {
		if err != nil {
			return out, err
		}
		out = append(out, tok)
	}
	return out, nil
}

// DefaultMaxNewTokens is the generation length when neither the caller nor
// generation_config.json sets one (HF's default max_length of 20, which
// counts the prompt, is not taken as a setting: a 600-token LLaVA prompt
// would otherwise be refused).
const DefaultMaxNewTokens = 128

// OptionsFromGeneration maps an HF generation_config to GenerateOptions, as
// HF's generate merges it; it is the one mapping, used by the root
// package's Generate for the fields a request leaves zero:
//   - MaxNewTokens: max_new_tokens; else max_length − promptLen when
//     max_length was set (differs from HF's default 20) and exceeds the
//     prompt; else DefaultMaxNewTokens;
//   - StopTokens: eos_token_id;
//   - RepetitionPenalty: repetition_penalty (0 when unset);
//   - Temperature, TopK, TopP: only when do_sample (else greedy).
func OptionsFromGeneration(g *GenerationConfig, promptLen int) GenerateOptions {
	o := GenerateOptions{
		StopTokens:   append([]int(nil), g.EOSTokenID...),
		MaxNewTokens: DefaultMaxNewTokens,
	}
	switch {
	case g.MaxNewTokens != nil && *g.MaxNewTokens > 0:
		o.MaxNewTokens = *g.MaxNewTokens
	case g.MaxLength > promptLen && g.MaxLength != config.DefaultGeneration().MaxLength:
		o.MaxNewTokens = g.MaxLength - promptLen // max_length counts the prompt
	}
	if g.RepetitionPenalty > 0 {
		o.RepetitionPenalty = float32(g.RepetitionPenalty)
	}
	if g.DoSample && g.Temperature > 0 {
		o.Temperature = float32(g.Temperature)
		o.TopK = g.TopK
		o.TopP = float32(g.TopP)
	}
	return o
}
