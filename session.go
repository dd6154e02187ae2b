package fovea

import (
	"context"
	"errors"
	"fmt"
	"image"
	"slices"

	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/projector"
)

// Session is a conversation with a model that keeps what it already
// computed: the encoded images and the KV cache of every token run so far.
// Each Send renders the whole conversation with the chat template, finds
// how much of it the cache already holds (the longest common token
// prefix) and prefills only the rest, so a follow-up question about the
// same image neither encodes the image again nor reruns the earlier turns.
// The tokens equal a fresh run of the whole conversation. A Session is not
// safe for concurrent use; the Model it talks to still is.
type Session struct {
	m        *Model
	history  []Message
	st       *decoder.State
	ids      []int     // the expanded ids whose keys/values st holds
	images   int       // images among ids
	strict   bool      // Mllama: the masking mode st's cross-attention masks were built with
	pending  int       // images of the run in progress
	features []*Tensor // LLaVA: the features [1, P, D] of the history's first images
	mllama   *Pixels   // Mllama: the encoded images and their side inputs
	mllamaN  int       // images s.mllama holds (the history's first mllamaN)
}

// NewSession starts an empty conversation.
func (m *Model) NewSession() *Session { return &Session{m: m} }

// History returns the conversation so far (each reply included once its
// Stream has ended).
func (s *Session) History() []Message { return slices.Clone(s.history) }

// Send streams the model's reply to msg (req carries the decoding
// options; its prompt fields must be empty). The turn happens when the
// Stream runs (Tokens or Result): msg joins the history then, and the
// reply joins it as an assistant message when the stream ends; a turn
// that fails before generating leaves the history as it was, and so does
// a Stream that is never run.
func (s *Session) Send(ctx context.Context, msg Message, req Request) *Stream {
	st := &Stream{m: s.m, ctx: ctx, req: req, sess: s, msg: msg}
	if req.Prompt != "" || len(req.IDs) > 0 || len(req.Messages) > 0 || len(req.Images) > 0 || req.Pixels != nil {
		st.done, st.err = true, errors.New("fovea: Session.Send takes the message; leave the request's prompt and images empty")
		st.res.Finish = decoder.FinishError
	}
	return st
}

// begin adds a turn's message to the history when its Stream starts and
// returns the history length before it.
func (s *Session) begin(msg Message) (turn int, msgs []Message) {
	turn = len(s.history)
	s.history = append(s.history, msg)
	return turn, s.History()
}

// prefill runs what the cache lacks of the conversation ids (one image
// placeholder per image, images in order). The cached state is taken out
// of the session for the run: record puts it back when the run succeeds,
// so a run that fails part way (a spoiled or truncated cache) leaves the
// next turn a fresh start.
func (s *Session) prefill(ctx context.Context, ids []int, images []image.Image, req Request) (*prefilled, error) {
	m := s.m
	st, cached, cachedImages, strict := s.st, s.ids, s.images, s.strict
	s.st, s.ids, s.images = nil, nil, 0
	s.strict = req.StrictImageMask
	s.pending = len(images)
	full, err := m.expandIDs(ids, len(images))
	if err != nil {
		return nil, err
	}
	k := commonPrefix(cached, full)
	reuse := st != nil && k > 0 && k < len(full) && m.imageTokens(full[:k]) == m.imageTokens(cached) &&
		(m.Kind() != KindMllama || (len(images) == cachedImages && strict == req.StrictImageMask))
	if !reuse {
		return s.freshPrefill(ctx, ids, images, req)
	}
	if err := st.Truncate(k); err != nil {
		return nil, err
	}
	var px *Pixels
	if len(images) > cachedImages {
		if err := s.encode(ctx, images); err != nil {
			return nil, err
		}
		px = &Pixels{Features: concatImages(s.features[cachedImages:len(images)])}
	}
	e, err := m.embedSegment(ctx, full[k:], px)
	if err != nil {
		return nil, err
	}
	return &prefilled{ids: full, embeds: e, state: st, cached: k}, nil
}

// freshPrefill runs the whole conversation on a new state, reusing the
// features of images encoded before.
func (s *Session) freshPrefill(ctx context.Context, ids []int, images []image.Image, req Request) (*prefilled, error) {
	m := s.m
	var px *Pixels
	switch {
	case len(images) == 0:
	case m.Kind() == KindMllama:
		if s.mllama == nil || s.mllamaN != len(images) {
			s.mllama, s.mllamaN = nil, 0
			p, err := m.PreprocessImages(images)
			if err != nil {
				return nil, err
			}
			if p.Features, err = m.EncodeImages(ctx, p); err != nil {
				return nil, err
			}
			s.mllama, s.mllamaN = p, len(images)
		}
		s.mllama.Mllama.Strict = req.StrictImageMask
		px = s.mllama
	default:
		if err := s.encode(ctx, images); err != nil {
			return nil, err
		}
		px = &Pixels{Features: concatImages(s.features[:len(images)])}
	}
	return m.impl.prefill(ctx, m.b, ids, px)
}

// encode makes sure s.features holds the LLaVA features of every image in
// images, encoding those it lacks.
func (s *Session) encode(ctx context.Context, images []image.Image) error {
	if len(images) <= len(s.features) {
		return nil
	}
	px, err := s.m.PreprocessImages(images[len(s.features):])
	if err != nil {
		return err
	}
	feats, err := s.m.EncodeImages(ctx, px) // [N, P, D]
	if err != nil {
		return err
	}
	n := feats.Shape[0]
	per := feats.Len() / n
	for i := 0; i < n; i++ {
		s.features = append(s.features, tensorFrom(feats.Data[i*per:(i+1)*per], 1, feats.Shape[1], feats.Shape[2]))
	}
	return nil
}

// rollback drops a turn that produced no reply: the history goes back to
// its first turn messages, and encoded images that are no longer in it
// are forgotten (a retried turn may bring other images).
func (s *Session) rollback(turn int) {
	s.history = s.history[:turn]
	n := 0
	for _, msg := range s.history {
		n += len(msg.Images)
	}
	if len(s.features) > n {
		clear(s.features[n:])
		s.features = s.features[:n]
	}
	if s.mllamaN != n {
		s.mllama, s.mllamaN = nil, 0
	}
}

// record keeps the state after a run: the prompt and every generated token
// but the last, which was not fed back. A reply joins the history.
func (s *Session) record(p *prefilled, gen []int) {
	ids := append(slices.Clone(p.ids), gen[:max(len(gen)-1, 0)]...)
	if p.state.Pos() == len(ids) { // else a failed step: start afresh next time
		s.st, s.ids, s.images = p.state, ids, s.pending
	}
	text := ""
	if s.m.tok != nil {
		sd := s.m.tok.NewStreamDecoder(true)
		for _, id := range gen {
			t, _ := sd.Add(id)
			text += t
		}
		text += sd.Flush()
	}
	s.history = append(s.history, Message{Role: RoleAssistant, Text: text})
}

func commonPrefix(a, b []int) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

func tensorFrom(data []float32, shape ...int) *Tensor {
	t, _ := TensorFromData(data, shape...)
	return t
}

// concatImages joins per-image features [1, P, D] → [N, P, D].
func concatImages(fs []*Tensor) *Tensor {
	if len(fs) == 0 {
		return nil
	}
	var data []float32
	for _, f := range fs {
		data = append(data, f.Data...)
	}
	return tensorFrom(data, len(fs), fs[0].Shape[1], fs[0].Shape[2])
}

// expandIDs turns one placeholder per image into the sequence the language
// model sees (LLaVA: each image token repeated per image feature).
func (m *Model) expandIDs(ids []int, images int) ([]int, error) {
	l, ok := m.impl.(*llava)
	if !ok {
		return ids, nil
	}
	full, _, err := projector.ExpandImageTokens(ids, l.cfg.ImageTokenIndex, l.cfg.ImageSeqLength, l.cfg.ImageFeatureTokens(), images)
	if err != nil {
		return nil, fmt.Errorf("fovea: %w", err)
	}
	return full, nil
}

// imageTokens counts the image-token positions of expanded ids.
func (m *Model) imageTokens(ids []int) int {
	tok := -1
	switch a := m.impl.(type) {
	case *llava:
		tok = a.cfg.ImageTokenIndex
	case *mllama:
		tok = a.cfg.ImageTokenIndex
	}
	n := 0
	for _, id := range ids {
		if id == tok {
			n++
		}
	}
	return n
}

// embedSegment embeds expanded ids that continue a cached sequence,
// splicing in the features of the images they introduce.
func (m *Model) embedSegment(ctx context.Context, ids []int, px *Pixels) (Value, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dec := m.impl.textDecoder()
	l, ok := m.impl.(*llava)
	if !ok {
		if px != nil {
			return nil, errors.New("fovea: this model takes new images only at the start of a session")
		}
		return embedIDs(m.b, dec, ids)
	}
	tok := l.cfg.ImageTokenIndex
	text := slices.Clone(ids)
	for i, id := range text {
		if id == tok {
			text[i] = placeholderEmbedID
		}
	}
	e, err := embedIDs(m.b, dec, text) // [1, T, D]
	if err != nil || px == nil {
		return e, err
	}
	d := l.cfg.TextConfig.HiddenSize
	rows, err := projector.Splice(m.b, m.b.Reshape(e, len(ids), d), ids, tok, m.b.Const(px.Features)) // [T, D]
	if err != nil {
		return nil, fmt.Errorf("fovea: %w", err)
	}
	return backend.T(m.b.Reshape(rows, 1, len(ids), d)), nil // [1, T, D]
}
