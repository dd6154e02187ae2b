package fovea

import (
	"context"
	"fmt"
	"image"
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
		history := append(s.History(), msg)
		res, err := s.Send(ctx, msg, opts).Result()
		require.NoError(t, err)
		fresh := opts
		fresh.Messages = history
		want, err := m.Complete(ctx, fresh)
		require.NoError(t, err)
		require.Equal(t, want.IDs, res.IDs, "turn %d", i)
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
		history := append(s.History(), msg)
		res, err := s.Send(ctx, msg, opts).Result()
		require.NoError(t, err)
		fresh := opts
		fresh.Messages = history
		want, err := m.Complete(ctx, fresh)
		require.NoError(t, err)
		require.Equal(t, want.IDs, res.IDs, "turn %d", i)
		if i > 0 {
			require.GreaterOrEqual(t, res.CachedTokens, prev, "turn %d", i)
		}
		prev = res.PromptTokens
	}
	// A new image in a follow-up: the session runs the conversation afresh
	// (cross-attention covers every image), still equal to a fresh run.
	msg := userMsg("And this?", img)
	history := append(s.History(), msg)
	res, err := s.Send(ctx, msg, opts).Result()
	require.NoError(t, err)
	fresh := opts
	fresh.Messages = history
	want, err := m.Complete(ctx, fresh)
	require.NoError(t, err)
	require.Equal(t, want.IDs, res.IDs)
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
	_ = image.Point{}
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
