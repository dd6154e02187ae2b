package fovea

import (
	"context"
	"encoding/json"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/tokenizer"
)

// tinyFolder copies testdata/<name> to a temp dir and adds a byte-level
// BPE tokenizer of vocab ids (trained here; the image token, "<image>" or
// Mllama's "<|image|>", added at 383 when vocab is 384) with <s> = 1 as BOS and </s> = 2 as EOS.
func tinyFolder(t *testing.T, name string, vocab int) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("testdata", name)
	entries, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, e.Name()), data, 0o644))
	}
	size := vocab
	if vocab == 384 {
		size = 383
	}
	corpus := []string{strings.Repeat("the cat sat on the mat and looked at the picture of a dog. ", 20),
		strings.Repeat("What is in this image? It is a red square and a blue circle. ", 20)}
	tok, err := tokenizer.Train(context.Background(), corpus, tokenizer.TrainConfig{VocabSize: size, SpecialTokens: []string{"<unk>", "<s>", "</s>"}, MinFrequency: 1})
	require.NoError(t, err)
	path := filepath.Join(dir, tokenizer.TokenizerJSON)
	require.NoError(t, tok.SaveJSON(path))
	if vocab == 384 {
		var f map[string]any
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(raw, &f))
		imageToken := "<image>"
		if strings.HasPrefix(name, "mllama") {
			imageToken = "<|image|>"
		}
		f["model"].(map[string]any)["vocab"].(map[string]any)[imageToken] = 383
		f["added_tokens"] = append(f["added_tokens"].([]any), map[string]any{"id": 383, "content": imageToken, "single_word": false,
			"lstrip": false, "rstrip": false, "normalized": false, "special": true})
		raw, err = json.Marshal(f)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, raw, 0o644))
	}
	cfg := `{"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": true, "add_eos_token": false}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, tokenizer.TokenizerConfigJSON), []byte(cfg), 0o644))
	return dir
}

func userMsg(text string, imgs ...image.Image) Message {
	return Message{Role: RoleUser, Text: text, Images: imgs}
}

// The built-in templates are HF's; rendered here they must give the
// strings HF's apply_chat_template documents.
func TestChatTemplatesMatchHF(t *testing.T) {
	ctx := context.Background()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	llava, err := Load(ctx, tinyFolder(t, "llava_tiny", 384))
	require.NoError(t, err)
	// llava-hf docs: "USER: <image>\n<prompt> ASSISTANT:".
	got, err := llava.RenderChat([]Message{userMsg("What are these?", img)}, true)
	require.NoError(t, err)
	require.Equal(t, "USER: <image>\nWhat are these? ASSISTANT:", got)
	got, err = llava.RenderChat([]Message{userMsg("What is this?", img), {Role: RoleAssistant, Text: "A cat."}, userMsg("And this?", img)}, true)
	require.NoError(t, err)
	require.Equal(t, "USER: <image>\nWhat is this? ASSISTANT: A cat. USER: <image>\nAnd this? ASSISTANT:", got)
	got, err = llava.RenderChat([]Message{{Role: RoleSystem, Text: "Be brief."}, userMsg("What are these?", img)}, true)
	require.NoError(t, err)
	require.Equal(t, "Be brief. USER: <image>\nWhat are these? ASSISTANT:", got)

	mllama, err := Load(ctx, "testdata/mllama_tiny", WithoutTokenizer())
	require.NoError(t, err)
	mllama.tok = nil
	// mllama docs, with bos_token <|begin_of_text|> supplied by the tokenizer.
	tok := tinyTokenizerWithBOS(t, "<|begin_of_text|>")
	mllama.tok = tok
	got, err = mllama.RenderChat([]Message{userMsg("If I had to write a haiku for this one, it would be: ", img)}, true)
	require.NoError(t, err)
	require.Equal(t, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n<|image|>If I had to write a haiku for this one, it would be: <|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", got)
	got, err = mllama.RenderChat([]Message{userMsg("What is it?", img), {Role: RoleAssistant, Text: "A cat."}, userMsg("Sure?")}, true)
	require.NoError(t, err)
	require.Equal(t, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n<|image|>What is it?<|eot_id|>"+
		"<|start_header_id|>assistant<|end_header_id|>\n\nA cat.<|eot_id|>"+
		"<|start_header_id|>user<|end_header_id|>\n\nSure?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", got)
	// Text only: the system header with the knowledge cutoff and today's
	// date (HF's strftime_now), then the system prompt.
	mllama.now = func() time.Time { return time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC) }
	got, err = mllama.RenderChat([]Message{{Role: RoleSystem, Text: " Be brief. "}, userMsg("Hi")}, true)
	require.NoError(t, err)
	require.Equal(t, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 05 Mar 2026\n\nBe brief.<|eot_id|>"+
		"<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", got)
	_, err = mllama.RenderChat([]Message{{Role: RoleSystem, Text: "Be brief."}, userMsg("Hi", img)}, true)
	require.ErrorContains(t, err, "incompatible with system messages")
	_, err = mllama.RenderChat([]Message{{Role: "tool", Text: "x"}}, true)
	require.ErrorContains(t, err, `role "tool"`)
}

// tinyTokenizerWithBOS trains a small tokenizer whose BOS is bos.
func tinyTokenizerWithBOS(t *testing.T, bos string) *tokenizer.Tokenizer {
	tok, err := tokenizer.Train(context.Background(), []string{"hello world"}, tokenizer.TrainConfig{VocabSize: 270, SpecialTokens: []string{bos}, MinFrequency: 1})
	require.NoError(t, err)
	return tok
}

// A folder's own template (tokenizer_config.json chat_template) wins over
// the built-in one.
func TestChatTemplateFromFolder(t *testing.T) {
	dir := tinyFolder(t, "llava_tiny", 384)
	cfg := `{"bos_token": "<s>", "eos_token": "</s>", "chat_template": "{% for m in messages %}[{{ m['role'] }}]{% endfor %}{% if add_generation_prompt %}>{% endif %}"}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, tokenizer.TokenizerConfigJSON), []byte(cfg), 0o644))
	m, err := Load(context.Background(), dir)
	require.NoError(t, err)
	got, err := m.RenderChat([]Message{userMsg("a"), {Role: RoleAssistant, Text: "b"}}, true)
	require.NoError(t, err)
	require.Equal(t, "[user][assistant]>", got)
}

// Issue 13 item 4: after an id the tokenizer could not decode, every later
// token's Text was "" with no error (the whole history was re-decoded each
// step and failed from then on).
func TestStreamTextAfterUndecodableID(t *testing.T) {
	ctx := context.Background()
	m, err := Load(ctx, tinyFolder(t, "llama_tiny", 270)) // ids 0..269: 271 has no text
	require.NoError(t, err)
	g := loadGoldenJSON(t, "llama_tiny")
	var ids []int
	var text strings.Builder
	for tok, err := range m.Generate(ctx, Request{IDs: g.PromptIDs, Options: decoder.GenerateOptions{MaxNewTokens: 8}, NoStopTokens: true}) {
		require.NoError(t, err)
		ids = append(ids, tok.ID)
		text.WriteString(tok.Text)
	}
	require.Equal(t, []int{54, 164, 54, 164, 271, 80, 164, 201}, ids)
	known := []int{54, 164, 54, 164, 80, 164, 201}
	want, err := m.Tokenizer().Decode(known)
	require.NoError(t, err)
	require.Equal(t, replaceInvalid(want), text.String())
	require.NotEmpty(t, text.String())
}

// replaceInvalid is the test's own reference: each byte outside a valid
// UTF-8 sequence becomes U+FFFD.
func replaceInvalid(s string) string {
	var b strings.Builder
	for _, r := range s { // range yields U+FFFD per invalid byte
		b.WriteRune(r)
	}
	return b.String()
}

func loadGoldenJSON(t *testing.T, name string) struct {
	PromptIDs    []int `json:"prompt_ids"`
	GeneratedIDs []int `json:"generated_ids"`
} {
	var g struct {
		PromptIDs    []int `json:"prompt_ids"`
		GeneratedIDs []int `json:"generated_ids"`
	}
	raw, err := os.ReadFile(filepath.Join("testdata", name, "golden.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &g))
	return g
}

func TestFinishReasonsCountsTimings(t *testing.T) {
	ctx := context.Background()
	m, err := Load(ctx, tinyFolder(t, "llama_tiny", 300))
	require.NoError(t, err)
	g := loadGoldenJSON(t, "llama_tiny")
	res, err := m.Complete(ctx, Request{IDs: g.PromptIDs, Options: decoder.GenerateOptions{MaxNewTokens: 8, TopLogprobs: 2}})
	require.NoError(t, err)
	require.Equal(t, decoder.FinishMaxTokens, res.Finish)
	require.Equal(t, g.GeneratedIDs, res.IDs)
	require.Equal(t, 12, res.PromptTokens)
	require.Equal(t, 8, res.GeneratedTokens)
	require.Positive(t, res.Prefill)
	require.Positive(t, res.Decode)
	require.Positive(t, res.PrefillTokensPerSecond())
	require.Positive(t, res.DecodeTokensPerSecond())

	res, err = m.Complete(ctx, Request{IDs: g.PromptIDs, Options: decoder.GenerateOptions{MaxNewTokens: 8, StopTokens: []int{164}}})
	require.NoError(t, err)
	require.Equal(t, decoder.FinishStopToken, res.Finish)
	require.Equal(t, []int{54, 164}, res.IDs)

	first, err := m.Complete(ctx, Request{IDs: g.PromptIDs, Options: decoder.GenerateOptions{MaxNewTokens: 3}})
	require.NoError(t, err)
	if first.Text != "" {
		res, err = m.Complete(ctx, Request{IDs: g.PromptIDs, StopStrings: []string{first.Text}, Options: decoder.GenerateOptions{MaxNewTokens: 8}})
		require.NoError(t, err)
		require.Equal(t, decoder.FinishStopString, res.Finish)
		require.LessOrEqual(t, res.GeneratedTokens, 3)
	}

	full := make([]int, 256)
	for i := range full {
		full[i] = 1 + i%200
	}
	res, err = m.Complete(ctx, Request{IDs: full})
	require.NoError(t, err)
	require.Equal(t, decoder.FinishContextFull, res.Finish)
	require.Zero(t, res.GeneratedTokens)

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st := m.Stream(cctx, Request{IDs: g.PromptIDs, Options: decoder.GenerateOptions{MaxNewTokens: 8}})
	n := 0
	for range st.Tokens() {
		n++
		cancel()
	}
	res, err = st.Result()
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, decoder.FinishCancelled, res.Finish)
	require.Equal(t, 1, n)

	// Cancelled before the prompt ran, and a failing request.
	res, err = m.Stream(cctx, Request{IDs: g.PromptIDs}).Result()
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, decoder.FinishCancelled, res.Finish)
	res, err = m.Complete(ctx, Request{IDs: []int{1000}})
	require.ErrorContains(t, err, "1000")
	require.Equal(t, decoder.FinishError, res.Finish)
}

func TestLoadRefusesOversizedTokenizer(t *testing.T) {
	_, err := Load(context.Background(), "testdata/llama_tiny", WithTokenizer("testdata/tokenizer/gpt2-hf/tokenizer.json"))
	require.ErrorContains(t, err, "50257 ids")
	require.ErrorContains(t, err, "384 rows")
}

func TestGenerationConfigHonoured(t *testing.T) {
	m, err := Load(context.Background(), "testdata/llama_tiny", WithoutTokenizer())
	require.NoError(t, err)
	five, temp := 5, 0.7
	_ = temp
	m.gen = &GenerationConfig{DoSample: true, Temperature: 0.7, TopK: 5, TopP: 0.9, RepetitionPenalty: 1.2, EOSTokenID: []int{2, 7}, MaxNewTokens: &five}
	dec := m.impl.textDecoder()
	o := m.withDefaults(Request{}, dec, 3)
	require.Equal(t, decoder.GenerateOptions{MaxNewTokens: 5, Temperature: 0.7, TopK: 5, TopP: 0.9, RepetitionPenalty: 1.2, StopTokens: []int{2, 7}}, o)
	o = m.withDefaults(Request{Greedy: true, NoStopTokens: true}, dec, 3)
	require.Equal(t, decoder.GenerateOptions{MaxNewTokens: 5, RepetitionPenalty: 1.2}, o)
	m.gen.DoSample = false
	o = m.withDefaults(Request{}, dec, 3)
	require.Zero(t, o.Temperature, "do_sample false is greedy")
}

// TestWriteTinyTokenizer regenerates testdata/tiny_tokenizer (the
// tokenizer the README's examples load beside the tiny LLaVA) when
// FOVEA_WRITE_TOKENIZER=1; otherwise it checks the shipped one.
func TestWriteTinyTokenizer(t *testing.T) {
	dst := filepath.Join("testdata", "tiny_tokenizer")
	if os.Getenv("FOVEA_WRITE_TOKENIZER") == "1" {
		dir := tinyFolder(t, "llava_tiny", 384)
		require.NoError(t, os.MkdirAll(dst, 0o755))
		for _, f := range []string{tokenizer.TokenizerJSON, tokenizer.TokenizerConfigJSON} {
			data, err := os.ReadFile(filepath.Join(dir, f))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dst, f), data, 0o644))
		}
	}
	tok, err := tokenizer.Load(filepath.Join(dst, tokenizer.TokenizerJSON))
	require.NoError(t, err)
	require.Equal(t, 384, tok.VocabSize())
	id, ok := tok.TokenID("<image>")
	require.True(t, ok)
	require.Equal(t, 383, id)
	require.Equal(t, 1, tok.BOS())
	require.Equal(t, 2, tok.EOS())
}

// hasStopString matches only stop strings that end inside the last token's
// text (earlier ones ended the generation already), across token edges.
func TestHasStopString(t *testing.T) {
	for _, c := range []struct {
		text, last string
		stops      []string
		want       bool
	}{
		{"hello wor", "wor", []string{"world"}, false},
		{"hello world", "ld", []string{"world"}, true},   // spans two tokens
		{"hello world", "world", []string{"lo w"}, true}, // starts before last
		{"world and", " and", []string{"world"}, false},  // ended before last
		{"abab", "ab", []string{"ab"}, true},
		{"ab", "", []string{"ab"}, false}, // nothing new (held-back bytes)
		{"x", "x", []string{"longer than the text"}, false},
	} {
		require.Equal(t, c.want, hasStopString(c.text, c.last, c.stops), "%q + %q, %q", c.text, c.last, c.stops)
	}
}

// strftime follows Python's directives, as templates calling
// strftime_now("%d %b %Y") expect.
func TestStrftime(t *testing.T) {
	at := time.Date(2024, time.July, 6, 15, 4, 5, 0, time.UTC)
	require.Equal(t, "06 Jul 2024", strftime(at, "%d %b %Y"))
	require.Equal(t, "2024-07-06 15:04:05 188 %q 100%", strftime(at, "%Y-%m-%d %H:%M:%S %j %q 100%%"))
	require.Equal(t, "Saturday, July 24 03PM", strftime(at, "%A, %B %y %I%p"))
}

// A tokenizer given by path brings its own chat template
// (tokenizer_config.json beside it), used when the model folder has none.
func TestChatTemplateFromTokenizer(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{tokenizer.TokenizerJSON, tokenizer.TokenizerConfigJSON} {
		data, err := os.ReadFile(filepath.Join("testdata", "tiny_tokenizer", f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), data, 0o644))
	}
	cfg := `{"bos_token": "<s>", "eos_token": "</s>", "chat_template": "{{ bos_token }}{% for m in messages %}<{{ m['role'] }}>{% endfor %}"}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, tokenizer.TokenizerConfigJSON), []byte(cfg), 0o644))
	m, err := Load(context.Background(), "testdata/llama_tiny", WithTokenizer(filepath.Join(dir, tokenizer.TokenizerJSON)))
	require.NoError(t, err)
	got, err := m.RenderChat([]Message{{Role: RoleSystem, Text: "s"}, userMsg("u")}, false)
	require.NoError(t, err)
	require.Equal(t, "<s><system><user>", got)
	ids, err := m.EncodeChat(got)
	require.NoError(t, err)
	require.Equal(t, 1, ids[0], "BOS written by the template is not added twice")
	require.NotEqual(t, 1, ids[1])

	plain, err := Load(context.Background(), "testdata/llama_tiny", WithTokenizer("testdata/tiny_tokenizer/tokenizer.json"))
	require.NoError(t, err)
	_, err = plain.RenderChat([]Message{userMsg("u")}, true)
	require.ErrorContains(t, err, "no chat template")
}
