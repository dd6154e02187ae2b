package fovea

import (
	"context"
	"encoding/json"
	"image"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/vision"
)

// copyCase writes a copy of testdata/<name> into a temp dir with every
// checkpoint name passed through rename ("" drops the tensor).
func copyCase(t *testing.T, name string, rename func(string) string) string {
	t.Helper()
	src := filepath.Join("testdata", name)
	dst := t.TempDir()
	for _, f := range []string{"config.json", "preprocessor_config.json", "generation_config.json"} {
		raw, err := os.ReadFile(filepath.Join(src, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, f), raw, 0o600))
	}
	st, err := safetensors.Open(filepath.Join(src, "model.safetensors"))
	require.NoError(t, err)
	defer st.Close()
	var entries []safetensors.Entry
	for _, n := range st.Names() {
		nn := rename(n)
		if nn == "" {
			continue
		}
		info, _ := st.Info(n)
		raw, err := st.Raw(n)
		require.NoError(t, err)
		entries = append(entries, safetensors.Entry{Name: nn, DType: info.DType, Shape: info.Shape, Data: raw})
	}
	require.NoError(t, safetensors.WriteEntries(filepath.Join(dst, "model.safetensors"), entries, nil))
	return dst
}

// newLayout maps the older LLaVA names of the golden checkpoint to the
// names transformers ≥ 4.52 writes (written out independently of llavaRenames).
func newLayout(n string) string {
	for _, r := range [][2]string{
		{"language_model.model.", "model.language_model."},
		{"language_model.lm_head.", "lm_head."},
		{"vision_tower.", "model.vision_tower."},
		{"multi_modal_projector.", "model.multi_modal_projector."},
	} {
		if strings.HasPrefix(n, r[0]) {
			return r[1] + strings.TrimPrefix(n, r[0])
		}
	}
	return n
}

func TestLlavaNewNamingScheme(t *testing.T) {
	dir := copyCase(t, "llava_tiny", newLayout)
	ctx := context.Background()
	m, err := Load(ctx, dir)
	require.NoError(t, err)
	g := openGolden(t, "llava_tiny")
	logits, err := m.Logits(ctx, g.ids(t, "input_ids"), &Pixels{Values: g.f32(t, "pixel_values")})
	require.NoError(t, err)
	t.Logf("new naming scheme: max |Δ logits| = %.3g", requireClose(t, "logits", g.f32(t, "logits"), logits))
}

func TestMissingWeights(t *testing.T) {
	drop := map[string]bool{"multi_modal_projector.linear_1.bias": true, "language_model.model.layers.2.mlp.up_proj.weight": true}
	dir := copyCase(t, "llava_tiny", func(n string) string {
		if drop[n] {
			return ""
		}
		return n
	})
	_, err := Load(context.Background(), dir)
	require.Error(t, err)
	for n := range drop {
		require.ErrorContains(t, err, n)
	}
}

func TestBadInputs(t *testing.T) {
	ctx := context.Background()
	g := openGolden(t, "llava_tiny")
	m, err := Load(ctx, g.dir)
	require.NoError(t, err)
	img := loadImages(t, g.dir, "image.png")[0]
	opts := decoder.GenerateOptions{MaxNewTokens: 2}
	firstErr := func(req Request) error {
		for _, err := range m.Generate(ctx, req) {
			if err != nil {
				return err
			}
		}
		return nil
	}

	// Wrong number of images for the placeholders (legacy: 1 placeholder, 2 images).
	err = firstErr(Request{IDs: g.json.PromptIDsLegacy, Images: []image.Image{img, img}, Options: opts})
	require.ErrorContains(t, err, "1 image tokens")
	require.ErrorContains(t, err, "2 images")
	// Expanded placeholders but no image.
	err = firstErr(Request{IDs: g.json.PromptIDs, Options: opts})
	require.ErrorContains(t, err, "no image")
	_, err = m.Logits(ctx, g.json.PromptIDs, nil)
	require.ErrorContains(t, err, "16 image tokens")

	// Corrupt image file.
	bad := filepath.Join(t.TempDir(), "broken.png")
	require.NoError(t, os.WriteFile(bad, []byte("\x89PNG\r\n\x1a\nnot really"), 0o600))
	_, err = LoadImage(bad)
	require.ErrorContains(t, err, "broken.png")

	// Oversized image (a side past vision.MaxImageSide).
	huge := image.NewGray(image.Rect(0, 0, vision.MaxImageSide+1, 1))
	err = firstErr(Request{IDs: g.json.PromptIDsLegacy, Images: []image.Image{huge}, Options: opts})
	require.ErrorIs(t, err, vision.ErrImageTooLarge)

	// Pixel values of the wrong size.
	_, err = m.Logits(ctx, g.json.PromptIDsLegacy, &Pixels{Values: g.f32(t, "pixel_values").Reshape(1, 3, 16, 64)})
	require.ErrorContains(t, err, "[1 3 16 64]")

	// Prompt past the context window (256 positions).
	long := make([]int, 300)
	err = firstErr(Request{IDs: long, Options: opts})
	require.ErrorContains(t, err, "300 tokens")
	require.ErrorContains(t, err, "256")
	// With images, the expanded length counts: 250 text tokens + 16 image rows.
	long = append(make([]int, 250), 383)
	_, err = m.Logits(ctx, long, &Pixels{Values: g.f32(t, "pixel_values")})
	require.ErrorContains(t, err, "266 tokens")

	// Text prompt without a tokenizer.
	err = firstErr(Request{Prompt: "hello", Options: opts})
	require.ErrorContains(t, err, "tokenizer")

	// Invalid options are reported by the decoder.
	err = firstErr(Request{IDs: g.json.PromptIDsLegacy, Images: []image.Image{img},
		Options: decoder.GenerateOptions{MaxNewTokens: 2, TopP: 2}})
	require.ErrorContains(t, err, "TopP")

	// Unsupported model folder.
	_, err = Load(ctx, t.TempDir())
	require.Error(t, err)
}

func TestConcurrentGenerate(t *testing.T) {
	ctx := context.Background()
	g := openGolden(t, "llava_tiny_2img")
	m, err := Load(ctx, g.dir)
	require.NoError(t, err)
	imgs := loadImages(t, g.dir, "image.png", "image2.png")
	const workers = 4
	results := make([][]int, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := Request{IDs: g.json.PromptIDsLegacy, Images: imgs,
				Options: decoder.GenerateOptions{MaxNewTokens: len(g.json.GeneratedIDs)}}
			if w%2 == 1 {
				req.IDs = g.json.PromptIDs
			}
			for tok, err := range m.Generate(ctx, req) {
				if err != nil {
					errs[w] = err
					return
				}
				results[w] = append(results[w], tok.ID)
			}
		}()
	}
	wg.Wait()
	for w := range workers {
		require.NoError(t, errs[w])
		require.Equal(t, g.json.GeneratedIDs, results[w], "worker %d", w)
	}
}

func TestCancelledContext(t *testing.T) {
	g := openGolden(t, "llava_tiny")
	m, err := Load(context.Background(), g.dir)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = m.Logits(ctx, g.json.PromptIDs, &Pixels{Values: g.f32(t, "pixel_values")})
	require.ErrorIs(t, err, context.Canceled)
	_, err = Load(ctx, g.dir)
	require.ErrorIs(t, err, context.Canceled)
}

func TestCLIPFolder(t *testing.T) {
	ctx := context.Background()
	g := openGolden(t, "clip_tiny")
	m, err := Load(ctx, g.dir)
	require.NoError(t, err)
	require.Equal(t, KindCLIPVision, m.Kind())
	px, err := m.PreprocessImages(loadImages(t, g.dir, "image.png"))
	require.NoError(t, err)
	d := requireClose(t, "pixel_values", g.f32(t, "pixel_values"), px.Values)
	vo, err := m.VisionOutputs(ctx, px)
	require.NoError(t, err)
	d = max(d, requireClose(t, "last_hidden_state", g.f32(t, "last_hidden_state"), vo.LastHidden))
	d = max(d, requireClose(t, "pooler_output", g.f32(t, "pooler_output"), vo.Pooled))
	t.Logf("clip_tiny: max |Δ| = %.3g", d)
	_, err = m.Logits(ctx, []int{1}, nil)
	require.ErrorContains(t, err, "no language model")
	for _, err := range m.Generate(ctx, Request{IDs: []int{1}}) {
		require.ErrorContains(t, err, "cannot generate")
	}
}

func TestLlamaFolder(t *testing.T) {
	ctx := context.Background()
	g := openGolden(t, "llama_tiny")
	m, err := Load(ctx, g.dir)
	require.NoError(t, err)
	require.Equal(t, KindLlama, m.Kind())
	logits, err := m.Logits(ctx, g.ids(t, "input_ids"), nil)
	require.NoError(t, err)
	t.Logf("llama_tiny: max |Δ logits| = %.3g", requireClose(t, "logits", g.f32(t, "logits"), logits))
	require.Equal(t, g.json.GeneratedIDs, generateIDs(t, m, Request{IDs: g.json.PromptIDs,
		Options: decoder.GenerateOptions{MaxNewTokens: len(g.json.GeneratedIDs)}}))
	_, err = m.PreprocessImages([]image.Image{image.NewGray(image.Rect(0, 0, 4, 4))})
	require.ErrorContains(t, err, "no images")
}

func TestTokenText(t *testing.T) {
	ctx := context.Background()
	g := openGolden(t, "llama_tiny")
	m, err := Load(ctx, tinyFolder(t, "llama_tiny", 300)) // a tokenizer that fits the 384-row table
	require.NoError(t, err)
	require.NotNil(t, m.Tokenizer())
	var ids []int
	var text strings.Builder
	for tok, err := range m.Generate(ctx, Request{IDs: g.json.PromptIDs, Options: decoder.GenerateOptions{MaxNewTokens: 8}}) {
		require.NoError(t, err)
		ids = append(ids, tok.ID)
		text.WriteString(tok.Text)
	}
	require.Equal(t, g.json.GeneratedIDs, ids)
	want, err := m.Tokenizer().Decode(ids)
	require.NoError(t, err)
	require.NotEmpty(t, want)
	require.Equal(t, replaceInvalid(want), text.String(), "bytes that never form a character come out as U+FFFD")

	// A text prompt is tokenized by the same tokenizer.
	opts := decoder.GenerateOptions{MaxNewTokens: 4}
	require.Equal(t, generateIDs(t, m, Request{IDs: m.Tokenizer().Encode("a"), Options: opts}),
		generateIDs(t, m, Request{Prompt: "a", Options: opts}))
}

// TestShardedCheckpoint splits llava_tiny into two shards with an index
// (language model in one, everything else in the other).
func TestShardedCheckpoint(t *testing.T) {
	src := filepath.Join("testdata", "llava_tiny")
	dst := t.TempDir()
	for _, f := range []string{"config.json", "preprocessor_config.json", "generation_config.json"} {
		raw, err := os.ReadFile(filepath.Join(src, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, f), raw, 0o600))
	}
	st, err := safetensors.Open(filepath.Join(src, "model.safetensors"))
	require.NoError(t, err)
	defer st.Close()
	shards := map[string][]safetensors.Entry{}
	weightMap := map[string]string{}
	for _, n := range st.Names() {
		shard := "model-00002-of-00002.safetensors"
		if strings.HasPrefix(n, "language_model.") {
			shard = "model-00001-of-00002.safetensors"
		}
		info, _ := st.Info(n)
		raw, err := st.Raw(n)
		require.NoError(t, err)
		shards[shard] = append(shards[shard], safetensors.Entry{Name: n, DType: info.DType, Shape: info.Shape, Data: raw})
		weightMap[n] = shard
	}
	for name, entries := range shards {
		require.NoError(t, safetensors.WriteEntries(filepath.Join(dst, name), entries, nil))
	}
	idx, err := json.Marshal(map[string]any{"metadata": map[string]any{}, "weight_map": weightMap})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dst, "model.safetensors.index.json"), idx, 0o600))

	ctx := context.Background()
	m, err := Load(ctx, dst)
	require.NoError(t, err)
	g := openGolden(t, "llava_tiny")
	logits, err := m.Logits(ctx, g.ids(t, "input_ids"), &Pixels{Values: g.f32(t, "pixel_values")})
	require.NoError(t, err)
	requireClose(t, "sharded logits", g.f32(t, "logits"), logits)
}
