package fovea

import (
	"context"
	"fmt"
	"image"
	"math"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea/decoder"
)

// A session's follow-up prefills only its new tokens, and gives the tokens
// a fresh run of the whole conversation gives.
func TestSessionEqualsFreshRun(t *testing.T) {
	ctx := context.Background()
	m, err := Load(ctx, tinyFolder(t, "llava_tiny", 384))
	require.NoError(t, err)
	img1, err := LoadImage("testdata/llava_tiny_2img/image.png")
	require.NoError(t, err)
	img2, err := LoadImage("testdata/llava_tiny_2img/image2.png")
	require.NoError(t, err)
	opts := Request{Options: decoder.GenerateOptions{MaxNewTokens: 5}, NoStopTokens: true}

	s := m.NewSession()
	turns := []Message{userMsg("What is in the picture?", img1), userMsg("And in this one?", img2), userMsg("Which is red?")}
	prev := 0
	for i, msg := range turns {
		res, want := sendMatchesFresh(t, m, s, msg, opts, i)
		require.Equal(t, want.PromptTokens, res.PromptTokens, "turn %d", i)
		if i > 0 {
			require.Positive(t, res.CachedTokens, "turn %d reuses the cache", i)
			require.GreaterOrEqual(t, res.CachedTokens, prev, "turn %d reruns none of the previous prompt", i)
		}
		prev = res.PromptTokens
	}
	require.Len(t, s.History(), 6)
	// A failing turn (a system message with an image) leaves no trace.
	_, err = s.Send(ctx, Message{Role: RoleSystem, Text: "x", Images: []image.Image{img1}}, opts).Result()
	require.ErrorContains(t, err, "system message takes no images")
	require.Len(t, s.History(), 6)
	require.Equal(t, RoleAssistant, s.History()[5].Role)
	require.Len(t, s.features, 2, "each image encoded once")
}

// An Mllama session: the image is encoded once, follow-ups reuse the KV
// cache, and each turn equals a fresh run.
func TestMllamaSessionEqualsFreshRun(t *testing.T) {
	ctx := context.Background()
	m, err := Load(ctx, tinyFolder(t, "mllama_tiny", 384))
	require.NoError(t, err)
	img, err := LoadImage("testdata/mllama_tiny/image.png")
	require.NoError(t, err)
	opts := Request{Options: decoder.GenerateOptions{MaxNewTokens: 4}, NoStopTokens: true}
	s := m.NewSession()
	prev := 0
	for i, msg := range []Message{userMsg("What is this?", img), userMsg("Is it red?"), userMsg("Sure?")} {
		res, _ := sendMatchesFresh(t, m, s, msg, opts, i)
		if i > 0 {
			require.GreaterOrEqual(t, res.CachedTokens, prev, "turn %d", i)
		}
		prev = res.PromptTokens
	}
	// A new image in a follow-up: the session runs the conversation afresh
	// (cross-attention covers every image), still equal to a fresh run.
	sendMatchesFresh(t, m, s, userMsg("And this?", img), opts, 3)
}

// sendMatchesFresh sends msg in s and requires the reply's tokens to be
// those of a fresh run of the whole conversation (turn names it).
func sendMatchesFresh(t *testing.T, m *Model, s *Session, msg Message, opts Request, turn int) (res, want Result) {
	t.Helper()
	ctx := context.Background()
	history := append(s.History(), msg)
	res, err := s.Send(ctx, msg, opts).Result()
	require.NoError(t, err)
	fresh := opts
	fresh.Messages = history
	want, err = m.Complete(ctx, fresh)
	require.NoError(t, err)
	require.Equal(t, want.IDs, res.IDs, "turn %d", turn)
	return res, want
}

// EncodeImages output passed back as Pixels.Features gives the same logits.
func TestEncodedImagesAsInput(t *testing.T) {
	ctx := context.Background()
	g := openGolden(t, "llava_tiny")
	m, err := Load(ctx, g.dir, WithoutTokenizer())
	require.NoError(t, err)
	px := &Pixels{Values: g.f32(t, "pixel_values")}
	want, err := m.Logits(ctx, g.json.PromptIDs, px)
	require.NoError(t, err)
	feats, err := m.EncodeImages(ctx, px)
	require.NoError(t, err)
	got, err := m.Logits(ctx, g.json.PromptIDs, &Pixels{Features: feats})
	require.NoError(t, err)
	require.Equal(t, want.Data, got.Data)
	_, err = m.Logits(ctx, g.json.PromptIDs, &Pixels{Features: feats.Reshape(1, -1, 8)})
	require.ErrorContains(t, err, "image features")
	bad := feats.Clone()
	bad.Data[len(bad.Data)/2] = float32(math.NaN())
	_, err = m.Logits(ctx, g.json.PromptIDs, &Pixels{Features: bad})
	require.ErrorContains(t, err, "features must be finite")

	mm, err := Load(ctx, "testdata/mllama_tiny", WithoutTokenizer())
	require.NoError(t, err)
	mg := openGolden(t, "mllama_tiny")
	mpx := mllamaGoldenPixels(t, mg, "", false)
	mwant, err := mm.Logits(ctx, mg.json.PromptIDs, mpx)
	require.NoError(t, err)
	mfeats, err := mm.EncodeImages(ctx, mpx)
	require.NoError(t, err)
	mpx.Features, mpx.Values = mfeats, nil
	mgot, err := mm.Logits(ctx, mg.json.PromptIDs, mpx)
	require.NoError(t, err)
	require.Equal(t, mwant.Data, mgot.Data)
	mpx.Features = mfeats.Clone()
	mpx.Features.Data[0] = float32(math.Inf(1))
	_, err = mm.Logits(ctx, mg.json.PromptIDs, mpx)
	require.ErrorContains(t, err, "features must be finite")
	_ = image.Point{}
}

// failAfter is a context whose Err reports cancellation from its n-th call
// on: a run stopped at each point where it checks its context in turn.
type failAfter struct {
	context.Context
	n *atomic.Int32
}

func (c failAfter) Err() error {
	if c.n.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

// A turn stopped anywhere (after its image was encoded, after the cache was
// cut back, inside the prefill) leaves no trace: retried with another image,
// the session still equals a fresh run and holds one feature per image.
func TestSessionCancelledTurnLeavesNoTrace(t *testing.T) {
	ctx := context.Background()
	m, err := Load(ctx, tinyFolder(t, "llava_tiny", 384))
	require.NoError(t, err)
	img1, err := LoadImage("testdata/llava_tiny_2img/image.png")
	require.NoError(t, err)
	img2, err := LoadImage("testdata/llava_tiny_2img/image2.png")
	require.NoError(t, err)
	opts := Request{Options: decoder.GenerateOptions{MaxNewTokens: 2}, NoStopTokens: true}
	failures := 0
	for n := int32(0); ; n++ {
		require.Less(t, n, int32(200), "the turn never completes")
		s := m.NewSession()
		sendMatchesFresh(t, m, s, userMsg("What is in the picture?", img1), opts, 0)
		left := &atomic.Int32{}
		left.Store(n)
		res, err := s.Send(failAfter{ctx, left}, userMsg("And in this one?", img2), opts).Result()
		if err == nil || res.GeneratedTokens > 0 {
			require.Len(t, s.History(), 4, "n=%d: a reply, even a cut one, joins the history", n)
			break
		}
		failures++
		require.ErrorIs(t, err, context.Canceled, "n=%d", n)
		require.Len(t, s.History(), 2, "n=%d", n)
		// The retried turn brings the first image again, not the second.
		sendMatchesFresh(t, m, s, userMsg("And in this one?", img1), opts, int(n))
		require.Len(t, s.features, 2, "n=%d: one feature per image of the history", n)
		// A further turn still equals a fresh run.
		sendMatchesFresh(t, m, s, userMsg("Which is red?"), opts, int(n))
	}
	require.Greater(t, failures, 3)
}

// Sessions on one Model run concurrently (run with -race): each keeps its
// own cache, and each equals a fresh run.
func TestConcurrentSessions(t *testing.T) {
	ctx := context.Background()
	m, err := Load(ctx, tinyFolder(t, "llava_tiny", 384))
	require.NoError(t, err)
	img, err := LoadImage("testdata/llava_tiny_2img/image.png")
	require.NoError(t, err)
	opts := Request{Options: decoder.GenerateOptions{MaxNewTokens: 3}, NoStopTokens: true}
	want := make([][]int, 2)
	s := m.NewSession()
	for i, msg := range []Message{userMsg("What is in the picture?", img), userMsg("Is it red?")} {
		res, err := s.Send(ctx, msg, opts).Result()
		require.NoError(t, err)
		want[i] = res.IDs
	}
	const workers = 3
	got := make([][2][]int, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := m.NewSession()
			for i, msg := range []Message{userMsg("What is in the picture?", img), userMsg("Is it red?")} {
				res, err := s.Send(ctx, msg, opts).Result()
				if err != nil {
					errs[w] = err
					return
				}
				got[w][i] = res.IDs
			}
		}()
	}
	wg.Wait()
	for w := range workers {
		require.NoError(t, errs[w])
		require.Equal(t, want[0], got[w][0], "worker %d turn 0", w)
		require.Equal(t, want[1], got[w][1], "worker %d turn 1", w)
	}
}

// A turn happens when its Stream runs: one never run leaves no trace, and
// two Streams run in the other order than sent give that conversation.
func TestSessionTurnHappensWhenRun(t *testing.T) {
	ctx := context.Background()
	m, err := Load(ctx, tinyFolder(t, "llava_tiny", 384))
	require.NoError(t, err)
	opts := Request{Options: decoder.GenerateOptions{MaxNewTokens: 2}, NoStopTokens: true}
	s := m.NewSession()
	_ = s.Send(ctx, userMsg("never run"), opts)
	require.Empty(t, s.History())
	withPrompt := opts
	withPrompt.Prompt = "x"
	res, err := s.Send(ctx, userMsg("q"), withPrompt).Result()
	require.ErrorContains(t, err, "leave the request's prompt and images empty")
	require.Equal(t, decoder.FinishError, res.Finish)
	require.Empty(t, s.History())
	a, b := s.Send(ctx, userMsg("first sent"), opts), s.Send(ctx, userMsg("second sent"), opts)
	_, err = b.Result()
	require.NoError(t, err)
	_, err = a.Result()
	require.NoError(t, err)
	h := s.History()
	require.Len(t, h, 4)
	require.Equal(t, "second sent", h[0].Text)
	require.Equal(t, "first sent", h[2].Text)
	fresh := opts
	fresh.Messages = h[:3]
	want, err := m.Complete(ctx, fresh)
	require.NoError(t, err)
	require.Equal(t, want.Text, h[3].Text)
}

// An Mllama session whose follow-up asks for the other masking mode runs
// afresh (the cached cross-attention masks are the old mode's) and equals
// a fresh run in that mode.
func TestMllamaSessionStrictChange(t *testing.T) {
	ctx := context.Background()
	m, err := Load(ctx, tinyFolder(t, "mllama_tiny", 384))
	require.NoError(t, err)
	img, err := LoadImage("testdata/mllama_tiny/image.png")
	require.NoError(t, err)
	opts := Request{Options: decoder.GenerateOptions{MaxNewTokens: 3}, NoStopTokens: true}
	s := m.NewSession()
	sendMatchesFresh(t, m, s, userMsg("What is this?", img), opts, 0)
	strict := opts
	strict.StrictImageMask = true
	res, _ := sendMatchesFresh(t, m, s, userMsg("Is it red?"), strict, 1)
	require.Zero(t, res.CachedTokens, "another masking mode reuses nothing")
	res, _ = sendMatchesFresh(t, m, s, userMsg("Sure?"), strict, 2)
	require.Positive(t, res.CachedTokens, "the same mode reuses the cache again")
}

// VisionOutputs for Mllama: the tower's output and every local and global
// hidden state, against HF's (MllamaVisionModel with output_hidden_states).
func TestMllamaVisionOutputsGolden(t *testing.T) {
	ctx := context.Background()
	g := openGolden(t, "mllama_tiny")
	m, err := Load(ctx, g.dir, WithoutTokenizer())
	require.NoError(t, err)
	px := mllamaGoldenPixels(t, g, "", false)
	vo, err := m.VisionOutputs(ctx, px)
	require.NoError(t, err)
	require.Nil(t, vo.Pooled)
	requireClose(t, "vision_output", g.f32(t, "vision_output"), vo.LastHidden)
	require.Len(t, vo.Hidden, 7)
	for i, h := range vo.Hidden {
		want := g.f32(t, fmt.Sprintf("vision_hidden_states.%d", i))
		requireClose(t, fmt.Sprintf("vision_hidden_states.%d", i), want, h.Reshape(want.Shape...))
	}
	feats, err := m.EncodeImages(ctx, px)
	require.NoError(t, err)
	requireClose(t, "cross_attention_states", g.f32(t, "cross_attention_states"), feats)
}
