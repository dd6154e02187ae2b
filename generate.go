package fovea

import (
	"context"
	"errors"
	"fmt"
	"image"
	"iter"
	"strings"
	"time"

	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/tokenizer"
)

// Request is one generation call. The prompt is, in order of precedence,
// IDs, Messages (rendered with the model's chat template) or Prompt.
type Request struct {
	// Prompt is text, tokenized with the folder's tokenizer (special
	// tokens such as <image> are parsed). Ignored when IDs or Messages
	// are set.
	Prompt string
	// Messages is a conversation, rendered with the model's chat template
	// (see Chat); their images are attached in order after Images.
	Messages []Message
	// IDs is the tokenized prompt.
	IDs []int
	// Images are the pictures the prompt's image tokens refer to, in order.
	Images []image.Image
	// Pixels is already preprocessed image input (or EncodeImages
	// features, see Pixels.Features), used instead of Images.
	Pixels *Pixels
	// Options control decoding. Fields left zero take the folder's
	// generation_config.json, as HF's generate does: MaxNewTokens its
	// max_new_tokens (else DefaultMaxNewTokens), StopTokens its
	// eos_token_id list, RepetitionPenalty its repetition_penalty, and,
	// when Temperature is 0 and do_sample is true, its temperature, top_k
	// and top_p. PromptIDs is filled in by Generate.
	Options decoder.GenerateOptions
	// Greedy decodes greedily even when generation_config.json sets
	// do_sample.
	Greedy bool
	// NoStopTokens generates until MaxNewTokens, a stop string or the end
	// of the context, ignoring eos_token_id.
	NoStopTokens bool
	// StopStrings end generation once the generated text contains one of
	// them; the token that completes it is the last (its text included,
	// as HF's stop_strings).
	StopStrings []string
	// SkipSpecialTokens leaves the text of special tokens (EOS, header
	// tokens) out of Token.Text, as HF's skip_special_tokens.
	SkipSpecialTokens bool
	// StrictImageMask selects Mllama's strict cross-attention masking for
	// Images (see MllamaInputs.Strict); Pixels carry their own.
	StrictImageMask bool
}

// Token is one generated token.
type Token struct {
	ID int
	// Text is the text this token completes when a tokenizer is loaded:
	// bytes of an unfinished UTF-8 character are held back until a later
	// token completes it, so every Text is valid UTF-8 and the Texts
	// concatenated are the decoded output. An id the tokenizer does not
	// know (an embedding row past its vocabulary) has no text.
	Text string
	// Logprob is the token's log-probability under the model (log-softmax
	// of the raw logits, before temperature and the other processors).
	Logprob float32
	// TopLogprobs are the Options.TopLogprobs most likely tokens.
	TopLogprobs []decoder.TokenLogprob
}

// Result is what a generation produced and how it went.
type Result struct {
	// Text is the generated text (with any held-back bytes that never
	// formed a character, as U+FFFD).
	Text string
	// IDs are the generated token ids.
	IDs []int
	// Finish says why generation ended.
	Finish decoder.FinishReason
	// PromptTokens is the prompt's length as the language model saw it
	// (image placeholders expanded); CachedTokens of them were already in
	// a Session's cache and not run again.
	PromptTokens, CachedTokens int
	// GeneratedTokens is len(IDs).
	GeneratedTokens int
	// Prefill is the time from the call to the first token (tokenizing,
	// image encoding and the prompt pass); Decode the time after it, to
	// the end (including the time the caller's loop body takes).
	Prefill, Decode time.Duration
}

// PrefillTokensPerSecond is the prompt tokens run per second of Prefill.
func (r Result) PrefillTokensPerSecond() float64 {
	return rate(r.PromptTokens-r.CachedTokens, r.Prefill)
}

// DecodeTokensPerSecond is the tokens generated after the first per
// second of Decode.
func (r Result) DecodeTokensPerSecond() float64 { return rate(r.GeneratedTokens-1, r.Decode) }

func rate(n int, d time.Duration) float64 {
	if n <= 0 || d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Stream is one streamed generation: range over Tokens, then read Err and
// Result. A Stream runs once and is not safe for concurrent use.
type Stream struct {
	m    *Model
	ctx  context.Context
	req  Request
	sess *Session
	msg  Message // the session turn's message
	res  Result
	err  error
	done bool
}

// Stream prepares a generation for req; it starts when Tokens is ranged
// over (or Result is called). Each call has its own run state, so
// concurrent streams on one Model are safe.
func (m *Model) Stream(ctx context.Context, req Request) *Stream {
	return &Stream{m: m, ctx: ctx, req: req}
}

// Tokens runs the generation, yielding each token as it is produced.
// Breaking out of the loop stops the generation (Finish "cancelled").
func (s *Stream) Tokens() iter.Seq[Token] {
	return func(yield func(Token) bool) {
		if s.done {
			return
		}
		s.done = true
		turn := 0
		if s.sess != nil {
			turn, s.req.Messages = s.sess.begin(s.msg)
		}
		s.res, s.err = s.m.run(s.ctx, s.req, s.sess, yield)
		if s.sess != nil && len(s.sess.history) == turn+1 {
			s.sess.rollback(turn) // no reply: the turn did not happen
		}
		if s.err != nil && s.res.Finish == decoder.FinishNone {
			s.res.Finish = decoder.FinishError
			if s.ctx.Err() != nil {
				s.res.Finish = decoder.FinishCancelled
			}
		}
	}
}

// Err is the error that ended the generation, if any (after Tokens).
func (s *Stream) Err() error { return s.err }

// Result returns the outcome, running the generation to its end first if
// Tokens was not ranged over.
func (s *Stream) Result() (Result, error) {
	if !s.done {
		for range s.Tokens() {
		}
	}
	return s.res, s.err
}

// Generate streams the tokens generated for req. An error is yielded
// once, as the last element. Stream gives the same tokens plus the finish
// reason, counts and timings.
func (m *Model) Generate(ctx context.Context, req Request) iter.Seq2[Token, error] {
	return func(yield func(Token, error) bool) {
		st := m.Stream(ctx, req)
		for tok := range st.Tokens() {
			if !yield(tok, nil) {
				return
			}
		}
		if err := st.Err(); err != nil {
			yield(Token{}, err)
		}
	}
}

// Complete runs req to its end and returns the result.
func (m *Model) Complete(ctx context.Context, req Request) (Result, error) {
	return m.Stream(ctx, req).Result()
}

// run is one generation: prompt, prefill (fresh or continuing a
// session), decode loop.
func (m *Model) run(ctx context.Context, req Request, sess *Session, yield func(Token) bool) (Result, error) {
	start := time.Now()
	res := Result{}
	dec := m.impl.textDecoder()
	if dec == nil {
		return res, fmt.Errorf("fovea: a %s model cannot generate text", m.Kind())
	}
	if err := m.checkStrings(req); err != nil {
		return res, err
	}
	if o := m.withDefaults(req, dec, 0); o.Validate() != nil { // before any image is encoded
		return res, fmt.Errorf("fovea: %w", o.Validate())
	}
	ids, images, err := m.requestPrompt(req)
	if err != nil {
		return res, err
	}
	var p *prefilled
	if sess != nil {
		p, err = sess.prefill(ctx, ids, images, req)
	} else {
		p, err = m.freshPrefill(ctx, ids, images, req)
	}
	if err != nil {
		return res, err
	}
	res.PromptTokens, res.CachedTokens = len(p.ids), p.cached
	opts := m.withDefaults(req, dec, len(p.ids))
	opts.PromptIDs = p.ids
	gen, err := dec.NewGenerator(ctx, m.b, p.state, p.embeds, opts)
	if err != nil {
		return res, fmt.Errorf("fovea: %w", err)
	}
	var sd *tokenizer.StreamDecoder
	if m.tok != nil {
		sd = m.tok.NewStreamDecoder(req.SkipSpecialTokens)
	}
	var text strings.Builder
	var first time.Time
	stopped := false
	for gen.Next(ctx) {
		step := gen.Step()
		if res.GeneratedTokens == 0 {
			first = time.Now()
			res.Prefill = first.Sub(start)
		}
		res.GeneratedTokens++
		res.IDs = append(res.IDs, step.ID)
		tok := Token{ID: step.ID, Logprob: step.Logprob, TopLogprobs: step.Top}
		if sd != nil {
			tok.Text, _ = sd.Add(step.ID) // an id past the tokenizer's vocabulary has no text
			text.WriteString(tok.Text)
		}
		if hasStopString(text.String(), tok.Text, req.StopStrings) {
			gen.Stop(decoder.FinishStopString)
		}
		if !yield(tok) {
			gen.Stop(decoder.FinishCancelled)
			stopped = true
			break
		}
	}
	if sd != nil {
		text.WriteString(sd.Flush())
	}
	if res.GeneratedTokens > 0 {
		res.Decode = time.Since(first)
	} else {
		res.Prefill = time.Since(start)
	}
	res.Text, res.Finish = text.String(), gen.Finish()
	if sess != nil && (res.GeneratedTokens > 0 || gen.Err() == nil) {
		sess.record(p, res.IDs) // a turn that failed before its first token leaves no reply
	}
	if err := gen.Err(); err != nil && !stopped {
		return res, fmt.Errorf("fovea: %w", err)
	}
	return res, nil
}

// hasStopString reports whether text, whose last part is last, now
// contains a stop string that ends inside last (earlier matches ended the
// generation already). Only the tail that such a match can touch is
// searched, so the check costs O(len(last) + len(stop)) per token.
func hasStopString(text, last string, stops []string) bool {
	if last == "" {
		return false
	}
	for _, s := range stops {
		tail := text[max(0, len(text)-len(last)-len(s)+1):]
		if strings.Contains(tail, s) {
			return true
		}
	}
	return false
}

// checkStrings refuses stop strings the loop cannot match.
func (m *Model) checkStrings(req Request) error {
	for _, s := range req.StopStrings {
		if s == "" {
			return errors.New("fovea: empty stop string")
		}
	}
	if len(req.StopStrings) > 0 && m.tok == nil {
		return errors.New("fovea: stop strings need a tokenizer")
	}
	return nil
}

// requestPrompt returns the prompt ids and the images of req.
func (m *Model) requestPrompt(req Request) ([]int, []image.Image, error) {
	images := append([]image.Image(nil), req.Images...)
	switch {
	case len(req.IDs) > 0:
		return req.IDs, images, nil
	case len(req.Messages) > 0:
		text, err := m.RenderChat(req.Messages, true)
		if err != nil {
			return nil, nil, err
		}
		for _, msg := range req.Messages {
			images = append(images, msg.Images...)
		}
		ids, err := m.EncodeChat(text)
		return ids, images, err
	}
	ids, err := m.promptIDs(req)
	return ids, images, err
}

// freshPrefill preprocesses the images (unless Pixels are given) and
// prefills a new run state.
func (m *Model) freshPrefill(ctx context.Context, ids []int, images []image.Image, req Request) (*prefilled, error) {
	px := req.Pixels
	if px == nil && len(images) > 0 {
		var err error
		if px, err = m.PreprocessImages(images); err != nil {
			return nil, err
		}
		if px.Mllama != nil {
			px.Mllama.Strict = req.StrictImageMask
		}
	}
	return m.impl.prefill(ctx, m.b, ids, px)
}

// promptIDs returns req.IDs or the tokenized req.Prompt.
func (m *Model) promptIDs(req Request) ([]int, error) {
	if len(req.IDs) > 0 {
		return req.IDs, nil
	}
	if req.Prompt == "" {
		return nil, errors.New("fovea: empty request: set Prompt, Messages or IDs")
	}
	if m.tok == nil {
		return nil, errors.New("fovea: no tokenizer loaded: give the prompt as IDs")
	}
	return m.tok.Encode(req.Prompt, tokenizer.WithParseSpecial(true)), nil
}

// withDefaults fills the options req leaves zero from generation_config
// (decoder.OptionsFromGeneration, the one mapping), then the text config.
func (m *Model) withDefaults(req Request, dec *decoder.Model, promptLen int) decoder.GenerateOptions {
	o := req.Options
	var g decoder.GenerateOptions
	if m.gen != nil {
		g = decoder.OptionsFromGeneration(m.gen, promptLen)
	} else {
		g = decoder.GenerateOptions{MaxNewTokens: DefaultMaxNewTokens}
	}
	if o.MaxNewTokens == 0 {
		o.MaxNewTokens = g.MaxNewTokens
	}
	switch {
	case req.NoStopTokens:
		o.StopTokens = nil
	case len(o.StopTokens) > 0:
	case len(g.StopTokens) > 0:
		o.StopTokens = g.StopTokens
	default:
		o.StopTokens = append([]int(nil), dec.Config().EOSTokenID...)
	}
	if o.RepetitionPenalty == 0 {
		o.RepetitionPenalty = g.RepetitionPenalty
	}
	if o.Temperature == 0 && !req.Greedy && g.Temperature > 0 {
		o.Temperature = g.Temperature
		if o.TopK == 0 {
			o.TopK = g.TopK
		}
		if o.TopP == 0 {
			o.TopP = g.TopP
		}
	}
	return o
}
