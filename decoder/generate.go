package decoder

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// GenerateOptions configures Generate. Zero values disable each processor,
// so the zero value plus MaxNewTokens is greedy decoding.
type GenerateOptions struct {
	// MaxNewTokens is the most tokens to generate (> 0).
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
}

// Validate reports the first out-of-range option.
func (o *GenerateOptions) Validate() error {
	isFinite := func(f float32) bool { return !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0) }
	switch {
	case o.MaxNewTokens <= 0:
		return fmt.Errorf("decoder: MaxNewTokens %d must be positive", o.MaxNewTokens)
	case !isFinite(o.Temperature) || o.Temperature < 0:
		return fmt.Errorf("decoder: Temperature %v must be ≥ 0 (0 = greedy)", o.Temperature)
	case o.TopK < 0:
		return fmt.Errorf("decoder: TopK %d must be ≥ 0", o.TopK)
	case !isFinite(o.TopP) || o.TopP < 0 || o.TopP > 1:
		return fmt.Errorf("decoder: TopP %v must lie in [0, 1]", o.TopP)
	case !isFinite(o.MinP) || o.MinP < 0 || o.MinP > 1:
		return fmt.Errorf("decoder: MinP %v must lie in [0, 1]", o.MinP)
	case !isFinite(o.RepetitionPenalty) || o.RepetitionPenalty < 0:
		return fmt.Errorf("decoder: RepetitionPenalty %v must be > 0 (0 = off)", o.RepetitionPenalty)
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
func (m *Model) lastLogits(b backend.Backend, h backend.Value) ([]float32, error) {
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
// that does not fit the context yields an error. The last token yielded is
// not fed back, so st ends one position short of the full sequence.
// Stopping the iteration early is allowed. Eager backend only.
func (m *Model) Generate(ctx context.Context, b backend.Backend, st *State, prefill backend.Value, opts GenerateOptions) iter.Seq2[int, error] {
	return func(yield func(int, error) bool) {
		if err := opts.Validate(); err != nil {
			yield(0, err)
			return
		}
		if st == nil || st.batch != 1 {
			yield(0, errors.New("decoder: Generate needs a State of batch 1"))
			return
		}
		if err := ctx.Err(); err != nil {
			yield(0, err)
			return
		}
		if s := b.Shape(prefill); len(s) == 3 {
			st.Reserve(min(st.pos+s[1]+opts.MaxNewTokens, m.cfg.MaxPositionEmbeddings))
		}
		h, err := m.HiddenContext(ctx, b, prefill, st) // [1, T, D]
		if err != nil {
			yield(0, err)
			return
		}
		logits, err := m.lastLogits(b, h) // [V]
		if err != nil {
			yield(0, err)
			return
		}
		seen := append(make([]int, 0, len(opts.PromptIDs)+opts.MaxNewTokens), opts.PromptIDs...)
		smp := NewSampler(opts)
		for n := 0; ; n++ {
			if st.pos >= m.cfg.MaxPositionEmbeddings {
				return // the next token would sit past the context
			}
			tok := smp.Next(logits, seen)
			seen = append(seen, tok)
			if !yield(tok, nil) || isStop(tok, opts.StopTokens) || n+1 == opts.MaxNewTokens {
				return
			}
			if err := ctx.Err(); err != nil {
				yield(0, err)
				return
			}
			x, err := m.Embed(b, [][]int{{tok}}) // [1, 1, D]
			if err != nil {
				yield(0, err)
				return
			}
			if h, err = m.Hidden(b, x, st); err != nil { // [1, 1, D]
				yield(0, err)
				return
			}
			if logits, err = m.lastLogits(b, h); err != nil {
				yield(0, err)
				return
			}
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
// and collects the ids: the reference path of the golden tests.
func (m *Model) Greedy(ctx context.Context, b backend.Backend, st *State, prefill backend.Value, maxNew int, stop ...int) ([]int, error) {
	var out []int
	for tok, err := range m.Generate(ctx, b, st, prefill, GenerateOptions{MaxNewTokens: maxNew, StopTokens: stop}) {
		if err != nil {
			return out, err
		}
		out = append(out, tok)
	}
	return out, nil
}

// OptionsFromGeneration maps an HF generation_config to GenerateOptions:
// eos_token_id becomes StopTokens, repetition_penalty always applies, and
// temperature / top_k / top_p only when do_sample (else greedy). Without
// max_new_tokens, HF's max_length (which counts the prompt of promptLen
// tokens) sets MaxNewTokens, which may come out ≤ 0 (Validate rejects it).
func OptionsFromGeneration(g *config.GenerationConfig, promptLen int) GenerateOptions {
	o := GenerateOptions{
		StopTokens:        append([]int(nil), g.EOSTokenID...),
		RepetitionPenalty: float32(g.RepetitionPenalty),
		MaxNewTokens:      g.MaxLength - promptLen,
	}
	if g.MaxNewTokens != nil {
		o.MaxNewTokens = *g.MaxNewTokens
	}
	if g.DoSample && g.Temperature > 0 {
		o.Temperature = float32(g.Temperature)
		o.TopK = g.TopK
		o.TopP = float32(g.TopP)
	}
	return o
}
