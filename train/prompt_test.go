package train

import (
	"context"
	"image"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea"
	"github.com/fovea-ml/fovea/internal/traintest"
)

// TestPromptsAreInferencePrompts: a row's ids are the model's own chat
// template (RenderChat, EncodeChat) — the prompt before each answer is
// exactly what inference would feed for that conversation — and the
// targets are the answers, with EOS appended where the template ends a
// turn without one (LLaVA-1.5) and not where it ends with <|eot_id|>
// (Llama-3.2-Vision).
func TestPromptsAreInferencePrompts(t *testing.T) {
	turns := []Turn{
		{FromHuman, "<image>\nWhat color is it?"}, {FromGPT, "red"},
		{FromHuman, "And the shape?"}, {FromGPT, "a square"},
	}
	img := image.NewGray(image.Rect(0, 0, 1, 1))
	msgs := []fovea.Message{
		{Role: fovea.RoleUser, Text: "What color is it?", Images: []image.Image{img}}, {Role: fovea.RoleAssistant, Text: "red"},
		{Role: fovea.RoleUser, Text: "And the shape?"}, {Role: fovea.RoleAssistant, Text: "a square"},
	}
	for _, c := range []struct {
		golden   string
		wantText string // the decoded training sequence
		addsEOS  bool
	}{
		{"llava_tiny", "USER: <image>\nWhat color is it? ASSISTANT: red </s>USER: And the shape? ASSISTANT: a square </s>", true},
		{"mllama_tiny", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n<|image|>What color is it?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nred<|eot_id|>" +
			"<|start_header_id|>user<|end_header_id|>\n\nAnd the shape?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\na square<|eot_id|>", false},
	} {
		t.Run(c.golden, func(t *testing.T) {
			m, err := fovea.Load(context.Background(), traintest.Folder(t, c.golden), fovea.ForTraining())
			require.NoError(t, err)
			tok := m.Tokenizer()
			ids, labels, err := renderConversation(m, stopTokens(tok), turns)
			require.NoError(t, err)
			require.Len(t, labels, len(ids))
			text, err := tok.Decode(ids)
			require.NoError(t, err)
			require.Equal(t, c.wantText, text)

			// The prompt before the first answer is inference's prompt.
			prompt, err := m.RenderChat(msgs[:1], true)
			require.NoError(t, err)
			want, err := m.EncodeChat(prompt)
			require.NoError(t, err)
			first := slices.IndexFunc(labels, func(l int) bool { return l != IgnoreIndex })
			require.Equal(t, want, ids[:first])

			// The targets, span by span, are the answers (and their end).
			var spans []string
			for i := 0; i < len(labels); {
				if labels[i] == IgnoreIndex {
					i++
					continue
				}
				j := i
				for j < len(labels) && labels[j] != IgnoreIndex {
					require.Equal(t, ids[j], labels[j])
					j++
				}
				s, err := tok.Decode(ids[i:j])
				require.NoError(t, err)
				spans = append(spans, s)
				i = j
			}
			if c.addsEOS {
				require.Equal(t, []string{" red </s>", " a square </s>"}, spans)
			} else {
				require.Equal(t, []string{"red<|eot_id|>", "a square<|eot_id|>"}, spans)
			}
		})
	}
}

// TestPromptErrors: a template whose answer render does not extend its
// generation prompt, an <image> in a gpt turn and a tokenizer without
// EOS for a template that ends turns without one are clear errors.
func TestPromptErrors(t *testing.T) {
	dir := traintest.Folder(t, "llava_tiny")
	turns := []Turn{{FromHuman, "q"}, {FromGPT, "a"}}

	_, err := conversationMessages([]Turn{{FromHuman, "q"}, {FromGPT, "<image> a"}})
	require.ErrorContains(t, err, "turn 1 (gpt) has an <image> placeholder")

	// A template whose generation prompt is not a prefix of the answer.
	jinja := "{% for m in messages %}{{ m['role'] }}: {% for c in m['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}\n{% endfor %}{% if add_generation_prompt %}<reply>{% endif %}"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "chat_template.jinja"), []byte(jinja), 0o644))
	m, err := fovea.Load(context.Background(), dir, fovea.ForTraining())
	require.NoError(t, err)
	_, _, err = renderConversation(m, stopTokens(m.Tokenizer()), turns)
	require.ErrorContains(t, err, "render of turn 1 does not start with its generation prompt")

	// No EOS to end a LLaVA turn with.
	require.NoError(t, os.Remove(filepath.Join(dir, "chat_template.jinja")))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(`{}`), 0o644))
	m, err = fovea.Load(context.Background(), dir, fovea.ForTraining())
	require.NoError(t, err)
	_, _, err = renderConversation(m, stopTokens(m.Tokenizer()), turns)
	require.ErrorContains(t, err, "the answer of turn 1 ends in no end-of-turn token and the tokenizer has no EOS token")
}
