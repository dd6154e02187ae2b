package decoder

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
)

// FinishReason says why a generation ended.
type FinishReason string

// The reasons a generation ends.
const (
	// FinishNone: still running (or never started).
	FinishNone FinishReason = ""
	// FinishStopToken: a stop token was generated (and yielded).
	FinishStopToken FinishReason = "stop_token"
	// FinishStopString: the text reached a stop string (package fovea).
	FinishStopString FinishReason = "stop_string"
	// FinishMaxTokens: MaxNewTokens tokens were generated.
	FinishMaxTokens FinishReason = "max_tokens"
	// FinishContextFull: the sequence filled max_position_embeddings; a
	// prompt that fills it exactly generates no token and ends so.
	FinishContextFull FinishReason = "context_full"
	// FinishCancelled: the context was cancelled or its deadline passed.
	FinishCancelled FinishReason = "cancelled"
	// FinishError: the run failed (Generator.Err says why).
	FinishError FinishReason = "error"
)

// TokenLogprob is one token's log-probability under the model's
// distribution (log-softmax of the raw logits, before any processor).
type TokenLogprob struct {
	ID      int
	Logprob float32
}

// Step is one generated token.
type Step struct {
	ID int
	// Logprob is the chosen token's log-probability (raw model
	// distribution).
	Logprob float32
	// Top are the TopLogprobs most likely tokens, most likely first (nil
	// when GenerateOptions.TopLogprobs is 0).
	Top []TokenLogprob
}

// Generator runs one generation step by step: NewGenerator prefills, each
// Next produces one token. The KV cache grows with the sequence; nothing is
// reserved from MaxNewTokens. A Generator is not safe for concurrent use.
type Generator struct {
	m      *Model
	b      Backend
	st     *State
	opts   GenerateOptions
	smp    *Sampler
	seen   []int
	logits []float32 // the next token's logits [V], nil before the first step is fed
	raw    []float32 // scratch copy for logprobs
	step   Step
	n      int
	finish FinishReason
	err    error
}

// NewGenerator checks opts, prefills st with prefill [1, T, D] and returns
// a generator ready for its first Next. A prefill that does not fit the
// context is an error; one that fills it exactly gives a generator whose
// first Next ends with FinishContextFull.
func (m *Model) NewGenerator(ctx context.Context, b Backend, st *State, prefill Value, opts GenerateOptions) (*Generator, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if st == nil || st.batch != 1 {
		return nil, errors.New("decoder: Generate needs a State of batch 1")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := b.Shape(prefill)
	if len(s) != 3 || s[0] != 1 || s[1] == 0 {
		return nil, fmt.Errorf("decoder: prefill %v, want [1, T, D] with T > 0", s)
	}
	if limit := m.cfg.MaxPositionEmbeddings; st.pos+s[1] > limit {
		return nil, fmt.Errorf("decoder: %d cached + %d prefill positions exceed the context window of %d (max_position_embeddings)", st.pos, s[1], limit)
	}
	st.Reserve(st.pos + s[1])                      // generation grows the caches as it goes
	h, err := m.HiddenContext(ctx, b, prefill, st) // [1, T, D]
	if err != nil {
		return nil, err
	}
	logits, err := m.lastLogits(b, h) // [V]
	if err != nil {
		return nil, err
	}
	g := &Generator{m: m, b: b, st: st, opts: opts, smp: NewSampler(opts), logits: logits}
	g.seen = append(make([]int, 0, len(opts.PromptIDs)+min(opts.MaxNewTokens, m.cfg.MaxPositionEmbeddings)), opts.PromptIDs...)
	return g, nil
}

// Next generates one token and reports whether there is one; after false,
// Finish says why and Err holds the error (FinishError, FinishCancelled).
// The last token generated is not fed back, so the State ends one
// position short of the full sequence (Feed adds it).
func (g *Generator) Next(ctx context.Context) bool {
	if g.finish != FinishNone {
		return false
	}
	if g.n > 0 {
		switch {
		case isStop(g.step.ID, g.opts.StopTokens):
			return g.end(FinishStopToken, nil)
		case g.n == g.opts.MaxNewTokens:
			return g.end(FinishMaxTokens, nil)
		}
		if err := ctx.Err(); err != nil {
			return g.end(FinishCancelled, err)
		}
		if err := g.Feed(g.step.ID); err != nil {
			return g.end(FinishError, err)
		}
	}
	if g.st.pos >= g.m.cfg.MaxPositionEmbeddings {
		return g.end(FinishContextFull, nil) // the next token would sit past the context
	}
	if err := ctx.Err(); err != nil {
		return g.end(FinishCancelled, err)
	}
	if err := checkLogits(g.logits); err != nil {
		return g.end(FinishError, fmt.Errorf("decoder: step %d: %w", g.n, err))
	}
	g.raw = append(g.raw[:0], g.logits...)
	tok, err := g.smp.next(g.logits, g.seen)
	if err != nil {
		return g.end(FinishError, fmt.Errorf("decoder: step %d: %w", g.n, err))
	}
	g.step = Step{ID: tok}
	g.step.Logprob, g.step.Top = logprobs(g.raw, tok, g.opts.TopLogprobs)
	g.seen = append(g.seen, tok)
	g.n++
	return true
}

// Feed runs id through the model at the next position, so that the
// following Next (or a later prefill on the same State) sees it.
func (g *Generator) Feed(id int) error {
	if g.st.pos >= g.m.cfg.MaxPositionEmbeddings {
		return fmt.Errorf("decoder: the context window of %d is full", g.m.cfg.MaxPositionEmbeddings)
	}
	x, err := g.m.Embed(g.b, [][]int{{id}}) // [1, 1, D]
	if err != nil {
		return err
	}
	h, err := g.m.Hidden(g.b, x, g.st) // [1, 1, D]
	if err != nil {
		return err
	}
	g.logits, err = g.m.lastLogits(g.b, h)
	return err
}

func (g *Generator) end(r FinishReason, err error) bool {
	g.finish, g.err = r, err
	return false
}

// Step returns the token of the last successful Next.
func (g *Generator) Step() Step { return g.step }

// Generated is the number of tokens generated so far.
func (g *Generator) Generated() int { return g.n }

// Finish reports why the generation ended (FinishNone while it runs).
func (g *Generator) Finish() FinishReason { return g.finish }

// Err is the error that ended the generation, if any.
func (g *Generator) Err() error { return g.err }

// Stop ends the generation with reason r (FinishStopString when the
// caller's text matched a stop string); later Next calls return false.
func (g *Generator) Stop(r FinishReason) { g.end(r, nil) }

// checkLogits refuses NaN and +Inf logits, and a row with no finite logit:
// a model whose weights or activations overflowed gives no usable token.
func checkLogits(logits []float32) error {
	finite := false
	for i, v := range logits {
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 1) {
			return fmt.Errorf("the model produced a non-finite logit (%v at id %d)", v, i)
		}
		if !math.IsInf(f, -1) {
			finite = true
		}
	}
	if !finite {
		return errors.New("the model produced no finite logit")
	}
	return nil
}

// logprobs returns log-softmax(raw)[tok] and, for k > 0, the k most
// likely tokens with theirs.
func logprobs(raw []float32, tok, k int) (float32, []TokenLogprob) {
	mx := math.Inf(-1)
	for _, v := range raw {
		mx = math.Max(mx, float64(v))
	}
	var sum float64
	for _, v := range raw {
		sum += math.Exp(float64(v) - mx)
	}
	lse := mx + math.Log(sum)
	lp := func(id int) float32 { return float32(float64(raw[id]) - lse) }
	if k <= 0 {
		return lp(tok), nil
	}
	top := topK(raw, min(k, len(raw)))
	out := make([]TokenLogprob, len(top))
	for i, id := range top {
		out[i] = TokenLogprob{ID: id, Logprob: lp(id)}
	}
	return lp(tok), out
}

// topK returns the ids of the k largest values, largest first (the lower
// id first on ties), in O(V log k) with a min-heap of the best so far.
func topK(vals []float32, k int) []int {
	if k <= 0 {
		return nil
	}
	// worse reports whether id a ranks below id b.
	worse := func(a, b int) bool { return vals[a] < vals[b] || vals[a] == vals[b] && a > b }
	h := make([]int, 0, k) // min-heap: h[0] is the worst kept
	down := func(i int) {
		for {
			l, m := 2*i+1, i
			if l < len(h) && worse(h[l], h[m]) {
				m = l
			}
			if r := l + 1; r < len(h) && worse(h[r], h[m]) {
				m = r
			}
			if m == i {
				return
			}
			h[i], h[m] = h[m], h[i]
			i = m
		}
	}
	for id := range vals {
		switch {
		case len(h) < k:
			h = append(h, id)
			for i := len(h) - 1; i > 0 && worse(h[i], h[(i-1)/2]); i = (i - 1) / 2 {
				h[i], h[(i-1)/2] = h[(i-1)/2], h[i]
			}
		case worse(h[0], id):
			h[0] = id
			down(0)
		}
	}
	slices.SortFunc(h, func(a, b int) int {
		if worse(a, b) {
			return 1
		}
		return -1
	})
	return h
}
