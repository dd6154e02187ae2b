package tokenizer

import (
	"fmt"
	"strings"
)

// ChatTemplate names a prompt format of a model family we load.
type ChatTemplate string

// Supported chat templates.
const (
	// Llava15 is LLaVA-1.5's "USER: <image>\n{prompt} ASSISTANT:" format.
	Llava15 ChatTemplate = "llava-1.5"
	// Mllama is Llama-3.2-Vision's header format with <|image|>.
	Mllama ChatTemplate = "llama-3.2-vision"
)

// Image placeholder texts the templates insert, one per image; each encodes
// to the vocabulary's image token.
const (
	LlavaImageToken  = "<image>"
	MllamaImageToken = "<|image|>"
)

// Format renders a single-turn user prompt with nImages image placeholders
// (placed before the prompt text) and the assistant turn opener.
func (c ChatTemplate) Format(prompt string, nImages int) (string, error) {
	if nImages < 0 {
		return "", fmt.Errorf("tokenizer: chat template %q: negative image count %d", c, nImages)
	}
	switch c {
	case Llava15:
		var b strings.Builder
		b.WriteString("USER: ")
		for i := 0; i < nImages; i++ {
			b.WriteString(LlavaImageToken)
			b.WriteByte('\n')
		}
		b.WriteString(prompt)
		b.WriteString(" ASSISTANT:")
		return b.String(), nil
	case Mllama:
		var b strings.Builder
		b.WriteString("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n")
		b.WriteString(strings.Repeat(MllamaImageToken, nImages))
		b.WriteString(prompt)
		b.WriteString("<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
		return b.String(), nil
	}
	return "", fmt.Errorf("tokenizer: unknown chat template %q (have %q, %q)", c, Llava15, Mllama)
}

// EncodeChat formats prompt with template c and encodes it. The
// Llama-3.2-Vision text already carries <|begin_of_text|>, so BOS is not
// added again; LLaVA-1.5 gets the vocabulary's BOS as usual. The image
// placeholders must be tokens of the vocabulary (checked).
func (t *Tokenizer) EncodeChat(c ChatTemplate, prompt string, nImages int) ([]int, error) {
	text, err := c.Format(prompt, nImages)
	if err != nil {
		return nil, err
	}
	placeholder := LlavaImageToken
	addSpecial := true
	if c == Mllama {
		placeholder, addSpecial = MllamaImageToken, false
	}
	if nImages > 0 {
		if _, ok := t.TokenID(placeholder); !ok {
			return nil, fmt.Errorf("tokenizer: chat template %q needs token %q, which the vocabulary lacks", c, placeholder)
		}
	}
	return t.Encode(text, WithAddSpecial(addSpecial)), nil
}
