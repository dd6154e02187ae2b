package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/fovea-ml/fovea/examples/shapes/internal/shapes"
	"github.com/fovea-ml/fovea/tokenizer"
)

// Special tokens of the shapes tokenizer, in id order: one vocabulary
// serves both styles (LLaVA-1.5's "<image>" prompt and Llama-3.2-Vision's
// header format with "<|image|>").
const (
	tokBOS         = "<|begin_of_text|>"
	tokEOS         = "<|end_of_text|>"
	tokImage       = tokenizer.LlavaImageToken
	tokMllamaImage = tokenizer.MllamaImageToken
	tokStartHeader = "<|start_header_id|>"
	tokEndHeader   = "<|end_header_id|>"
	tokEOT         = "<|eot_id|>"
	tokPad         = "<|pad|>"
)

var specialTokens = []string{tokBOS, tokEOS, tokImage, tokMllamaImage, tokStartHeader, tokEndHeader, tokEOT, tokPad}

// Tokenizer training: the shapes text has a few dozen words, so merges
// stop (MinFrequency) long before maxVocab; every word ends up one token.
const (
	maxVocab     = 512
	minMergeFreq = 2
)

// Chat templates (Jinja, as HF's apply_chat_template runs them). They
// render exactly what tokenizer.Llava15 and tokenizer.Mllama format
// for one user turn with the images first, then the answer and its end
// token for an assistant turn.
const (
	llavaChatTemplate = "{{ bos_token }}{% for message in messages %}" +
		"{% if message['role'] == 'user' %}USER: " +
		"{% if message['content'] is string %}{{ message['content'] }}{% else %}" +
		"{% for c in message['content'] %}{% if c['type'] == 'image' %}<image>\n{% endif %}{% endfor %}" +
		"{% for c in message['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}" +
		"{% endif %} " +
		"{% else %}ASSISTANT: " +
		"{% if message['content'] is string %}{{ message['content'] }}{% else %}" +
		"{% for c in message['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}" +
		"{% endif %}{{ eos_token }}{% endif %}{% endfor %}" +
		"{% if add_generation_prompt %}ASSISTANT:{% endif %}"
	mllamaChatTemplate = "{{ bos_token }}{% for message in messages %}" +
		"<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n" +
		"{% if message['content'] is string %}{{ message['content'] }}{% else %}" +
		"{% for c in message['content'] %}{% if c['type'] == 'image' %}<|image|>{% endif %}{% endfor %}" +
		"{% for c in message['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}" +
		"{% endif %}<|eot_id|>{% endfor %}" +
		"{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)

// chatStyle is what differs between the two styles' tokenizer configs.
type chatStyle struct {
	template tokenizer.ChatTemplate
	jinja    string
	eos      string // the token that ends an answer
	addBOS   bool   // LLaVA-1.5 prompts get BOS from the tokenizer; Llama-3.2's carry it
}

func styleOf(fusion string) chatStyle {
	if fusion == fusionCross {
		return chatStyle{tokenizer.Mllama, mllamaChatTemplate, tokEOT, false}
	}
	return chatStyle{tokenizer.Llava15, llavaChatTemplate, tokEOS, true}
}

// trainingText is one row as the model sees it in training: the chat
// prompt and the answer after a space (LLaVA) or directly (Llama-3.2).
func (s chatStyle) trainingText(question, answer string, nImages int) (string, error) {
	p, err := s.template.Format(question, nImages)
	if err != nil {
		return "", err
	}
	if s.template == tokenizer.Llava15 {
		return p + " " + answer + s.eos, nil
	}
	return p + answer + s.eos, nil
}

// tokenizerCorpus is every training row in both styles' chat formats, so
// the merges cover the prompts' fixed words as well as the answers.
func tokenizerCorpus(rows []shapes.Row) ([]string, error) {
	var corpus []string
	for _, r := range rows {
		q, err := r.Question()
		if err != nil {
			return nil, err
		}
		a, _ := r.Answer()
		for _, f := range []string{fusionUnified, fusionCross} {
			text, err := styleOf(f).trainingText(q, a, 1)
			if err != nil {
				return nil, err
			}
			corpus = append(corpus, text)
		}
	}
	return corpus, nil
}

// trainTokenizer learns the byte-level BPE vocabulary on the training rows.
func trainTokenizer(ctx context.Context, rows []shapes.Row) (*tokenizer.Tokenizer, error) {
	corpus, err := tokenizerCorpus(rows)
	if err != nil {
		return nil, err
	}
	return tokenizer.Train(ctx, corpus, tokenizer.TrainConfig{
		VocabSize: maxVocab, SpecialTokens: specialTokens, MinFrequency: minMergeFreq})
}

// tokenizerConfig is the part of HF's tokenizer_config.json Fovea and
// transformers read.
type tokenizerConfig struct {
	TokenizerClass string `json:"tokenizer_class"`
	BOSToken       string `json:"bos_token"`
	EOSToken       string `json:"eos_token"`
	PadToken       string `json:"pad_token"`
	AddBOSToken    bool   `json:"add_bos_token"`
	AddEOSToken    bool   `json:"add_eos_token"`
	ChatTemplate   string `json:"chat_template"`
	ModelMaxLength int    `json:"model_max_length"`
}

// writeTokenizer writes dir/tokenizer.json and dir/tokenizer_config.json
// for the fusion style, and returns the tokenizer as Load reads it back.
func writeTokenizer(dir string, tok *tokenizer.Tokenizer, fusion string, maxLen int) (*tokenizer.Tokenizer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := tok.SaveJSON(filepath.Join(dir, tokenizer.TokenizerJSON)); err != nil {
		return nil, err
	}
	if err := dropNewlineMerges(filepath.Join(dir, tokenizer.TokenizerJSON)); err != nil {
		return nil, err
	}
	st := styleOf(fusion)
	cfg := tokenizerConfig{TokenizerClass: "PreTrainedTokenizerFast", BOSToken: tokBOS, EOSToken: st.eos,
		PadToken: tokPad, AddBOSToken: st.addBOS, ChatTemplate: st.jinja, ModelMaxLength: maxLen}
	var data bytes.Buffer
	enc := json.NewEncoder(&data)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(cfg); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, tokenizer.TokenizerConfigJSON), data.Bytes(), 0o644); err != nil {
		return nil, err
	}
	back, err := tokenizer.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("reading back the tokenizer: %w", err)
	}
	return back, nil
}

// newlineByte is the byte-level alphabet's character for "\n".
const newlineByte = "Ċ"

// dropNewlineMerges removes the merges of newlines ("\n\n") from a
// tokenizer.json. Llama-3.2's prompt ends in "<|end_header_id|>\n\n" and
// the answer follows directly: alone, the prompt's "\n\n" is one
// pre-token (one merged id), before an answer word it splits into "\n",
// "\n" — so the prompt's ids would not be a prefix of the prompt-and-
// answer ids, which training needs (and inference would see other ids
// than training). Without the merge both encode as two "\n" ids. The
// merged token stays in the vocabulary, unused.
func dropNewlineMerges(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return err
	}
	var model map[string]json.RawMessage
	if err := json.Unmarshal(doc["model"], &model); err != nil {
		return err
	}
	var merges []string
	if err := json.Unmarshal(model["merges"], &merges); err != nil {
		return fmt.Errorf("%s: merges: %w", path, err)
	}
	kept := merges[:0]
	for _, m := range merges {
		if strings.Trim(strings.ReplaceAll(m, " ", ""), newlineByte) == "" {
			continue
		}
		kept = append(kept, m)
	}
	if model["merges"], err = marshalNoEscape(kept); err != nil {
		return err
	}
	if doc["model"], err = marshalNoEscape(model); err != nil {
		return err
	}
	out, err := marshalNoEscape(doc)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o644)
}

func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
