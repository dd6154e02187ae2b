package fovea

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ardanlabs/jinja"

	"github.com/fovea-ml/fovea/internal/fsx"
	"github.com/fovea-ml/fovea/tokenizer"
)

// Role is who speaks a Message.
type Role string

// The roles of a conversation.
const (
	RoleSystem    Role = "system"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
)

// Message is one turn of a conversation. Its images are shown before its
// text, as HF's processors lay out {"type": "image"} entries first.
type Message struct {
	Role   Role
	Text   string
	Images []image.Image
}

// Files a model folder may keep its chat template in, in the order Load
// looks: the processor's (newer transformers), then the tokenizer's.
const (
	chatTemplateJinja = "chat_template.jinja"
	chatTemplateJSON  = "chat_template.json"
	maxTemplateBytes  = 1 << 20
)

// The built-in templates, used when a folder ships none. They are HF's own:
// llava-hf/llava-1.5-7b-hf's processor template and (without the tool
// calling part) meta-llama/Llama-3.2-11B-Vision-Instruct's.
const (
	llavaChatTemplate = "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}" +
		"{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}" +
		"{# Render all text next #}{% if message['role'] != 'assistant' %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}{% endfor %}" +
		"{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}" +
		"{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"

	mllamaChatTemplate = `{{- bos_token }}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}
        {%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}
        {%- set date_string = "26 Jul 2024" %}
    {%- endif %}
{%- endif %}
{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}
{#- Find out if there are any images #}
{% set image_ns = namespace(has_images=false) %}
{%- for message in messages %}
    {%- for content in message['content'] %}
        {%- if content['type'] == 'image' %}
            {%- set image_ns.has_images = true %}
        {%- endif %}
    {%- endfor %}
{%- endfor %}
{#- Error out if there are images and system message #}
{%- if image_ns.has_images and not system_message == "" %}
    {{- raise_exception("Prompting with images is incompatible with system messages.") }}
{%- endif %}
{#- System message if there are no images #}
{%- if not image_ns.has_images %}
    {{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
    {{- "Cutting Knowledge Date: December 2023\n" }}
    {{- "Today Date: " + date_string + "\n\n" }}
    {{- system_message }}
    {{- "<|eot_id|>" }}
{%- endif %}
{%- for message in messages %}
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}
    {%- if message['content'] is string %}
        {{- message['content'] }}
    {%- else %}
        {%- for content in message['content'] %}
            {%- if content['type'] == 'image' %}
                {{- '<|image|>' }}
            {%- elif content['type'] == 'text' %}
                {{- content['text'] }}
            {%- endif %}
        {%- endfor %}
    {%- endif %}
    {{- '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
`
)

// chatTemplate is a compiled chat template and where it came from.
type chatTemplate struct {
	tmpl   *jinja.Template
	source string // file name, or "built-in"
	// systemString: the template reads the system prompt as a string
	// (Llama's messages[0]['content']|trim) rather than a list of parts.
	systemString bool
}

// loadChatTemplate finds the folder's chat template (chat_template.jinja,
// chat_template.json, then tokenizer_config.json's chat_template), else
// the tokenizer's own (a GGUF's, or one beside a WithTokenizer path), else
// the built-in one for kind; nil when there is none.
func loadChatTemplate(dir string, kind Kind, tok *tokenizer.Tokenizer) (*chatTemplate, error) {
	src, from, err := folderChatTemplate(dir)
	if err != nil {
		return nil, err
	}
	if src == "" && tok != nil && tok.StoredChatTemplate() != "" {
		src, from = tok.StoredChatTemplate(), "the tokenizer's chat template"
	}
	if src == "" {
		switch kind {
		case KindLlava:
			src = llavaChatTemplate
		case KindMllama:
			src = mllamaChatTemplate
		default:
			return nil, nil
		}
		from = "built-in " + string(kind) + " template"
	}
	t, err := jinja.Compile(src)
	if err != nil {
		return nil, fmt.Errorf("chat template in %s: %w", from, err)
	}
	return &chatTemplate{tmpl: t, source: from, systemString: strings.Contains(src, "messages[0]['content']")}, nil
}

// folderChatTemplate reads the template source of dir ("" when none).
func folderChatTemplate(dir string) (src, from string, err error) {
	if data, err := readSmallFile(filepath.Join(dir, chatTemplateJinja)); err == nil {
		return string(data), chatTemplateJinja, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", "", err
	}
	for _, name := range []string{chatTemplateJSON, tokenizer.TokenizerConfigJSON} {
		data, err := readSmallFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", "", err
		}
		var f struct {
			ChatTemplate json.RawMessage `json:"chat_template"`
		}
		if err := json.Unmarshal(data, &f); err != nil {
			return "", "", fmt.Errorf("%s: %w", name, err)
		}
		s, err := templateString(f.ChatTemplate)
		if err != nil {
			return "", "", fmt.Errorf("%s: chat_template: %w", name, err)
		}
		if s != "" {
			return s, name, nil
		}
	}
	return "", "", nil
}

// templateString reads chat_template: a string, or HF's list of
// {"name", "template"} from which "default" is taken.
func templateString(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var named []struct{ Name, Template string }
	if err := json.Unmarshal(raw, &named); err != nil {
		return "", errors.New("neither a string nor a list of named templates")
	}
	for _, n := range named {
		if n.Name == "default" {
			return n.Template, nil
		}
	}
	return "", errors.New("no template named \"default\"")
}

// readSmallFile reads a regular file of at most maxTemplateBytes, without
// blocking on special files.
func readSmallFile(path string) ([]byte, error) { return fsx.ReadFile(path, maxTemplateBytes) }

// RenderChat renders msgs with the model's chat template (the folder's,
// else the built-in one for LLaVA and Mllama) as HF's apply_chat_template
// does with tokenize=False; addGenerationPrompt opens the assistant turn.
func (m *Model) RenderChat(msgs []Message, addGenerationPrompt bool) (string, error) {
	if m.chat == nil {
		return "", fmt.Errorf("fovea: the %s model folder has no chat template", m.Kind())
	}
	if len(msgs) == 0 {
		return "", errors.New("fovea: no messages")
	}
	list := make([]jinja.Value, 0, len(msgs))
	for i, msg := range msgs {
		switch msg.Role {
		case RoleSystem, RoleUser, RoleAssistant:
		default:
			return "", fmt.Errorf("fovea: message %d has role %q (want system, user or assistant)", i, msg.Role)
		}
		if msg.Role == RoleSystem && len(msg.Images) > 0 {
			return "", fmt.Errorf("fovea: message %d: a system message takes no images", i)
		}
		var content []any
		for range msg.Images {
			content = append(content, map[string]any{"type": "image"})
		}
		content = append(content, map[string]any{"type": "text", "text": msg.Text})
		entry := map[string]any{"role": string(msg.Role), "content": content}
		if msg.Role == RoleSystem && m.chat.systemString { // as HF's Llama templates expect
			entry["content"] = msg.Text
		}
		list = append(list, jinja.FromGoValue(entry))
	}
	data := map[string]jinja.Value{
		"messages":              jinja.NewList(list),
		"add_generation_prompt": jinja.NewBool(addGenerationPrompt),
		// HF's apply_chat_template defines strftime_now; the templates
		// that call it ask for "%d %b %Y".
		"strftime_now": jinja.NewCallable("strftime_now", func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
			format := "%d %b %Y" // what Llama 3.x templates ask for
			if len(args) > 0 && args[0].IsString() {
				format = args[0].AsString()
			}
			now := time.Now
			if m.now != nil {
				now = m.now
			}
			return jinja.NewString(strftime(now(), format)), nil
		}),
	}
	if m.tok != nil {
		for name, id := range map[string]int{"bos_token": m.tok.BOS(), "eos_token": m.tok.EOS()} {
			if s, ok := m.tok.Token(id); ok {
				data[name] = jinja.NewString(s)
			}
		}
	}
	out, err := m.chat.tmpl.RenderValues(data)
	if err != nil {
		return "", fmt.Errorf("fovea: chat template (%s): %w", m.chat.source, err)
	}
	return out, nil
}

// EncodeChat tokenizes a conversation RenderChat rendered, as Stream and
// Session do: special tokens are parsed, and BOS is added only when the
// template did not write it. Trainers (package train) encode their
// prompts with it, so training and inference see the same ids.
func (m *Model) EncodeChat(text string) ([]int, error) {
	if m.tok == nil {
		return nil, errors.New("fovea: no tokenizer loaded: chat needs one")
	}
	add := true
	if bos, ok := m.tok.Token(m.tok.BOS()); ok && bos != "" && strings.HasPrefix(text, bos) {
		add = false
	}
	return m.tok.Encode(text, tokenizer.WithParseSpecial(true), tokenizer.WithAddSpecial(add)), nil
}

// strftime formats t with Python's strftime directives (the common ones;
// an unknown directive is kept as written), as HF's strftime_now helper
// does for chat templates.
func strftime(t time.Time, format string) string {
	layouts := map[byte]string{
		'd': "02", 'm': "01", 'y': "06", 'Y': "2006", 'b': "Jan", 'B': "January",
		'a': "Mon", 'A': "Monday", 'H': "15", 'I': "03", 'M': "04", 'S': "05", 'p': "PM",
	}
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' || i+1 == len(format) {
			b.WriteByte(c)
			continue
		}
		i++
		switch d := format[i]; {
		case d == '%':
			b.WriteByte('%')
		case d == 'j':
			fmt.Fprintf(&b, "%03d", t.YearDay())
		case layouts[d] != "":
			b.WriteString(t.Format(layouts[d]))
		default:
			b.WriteByte('%')
			b.WriteByte(d)
		}
	}
	return b.String()
}
