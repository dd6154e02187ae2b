package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/fovea-ml/fovea"
	"github.com/fovea-ml/fovea/internal/fsx"
	"github.com/fovea-ml/fovea/tokenizer"
)

// maxDataBytes caps a dataset file (it is read whole).
const maxDataBytes = 1 << 30

// IgnoreIndex is the label of positions without a target (prompt, image,
// padding), as HF's -100.
const IgnoreIndex = -100

// Conversation speakers of the LLaVA format.
const (
	FromHuman = "human"
	FromGPT   = "gpt"
)

// Turn is one message of a conversation.
type Turn struct {
	From  string `json:"from"`
	Value string `json:"value"`
}

// Row is one LLaVA conversation record: {"id", "image": "rel/path.png"
// (or a list, or absent), "conversations": [{"from": "human", "value":
// "<image>\n…"}, {"from": "gpt", "value": "…"}, …]}. Image paths are
// resolved against the data file's folder. Every gpt turn is a target.
type Row struct {
	// Line is the 1-based line of the row in its file.
	Line   int
	ID     string
	Images []string
	Turns  []Turn
}

// RowError is a bad row: where it is and what is wrong with it.
type RowError struct {
	File string
	Line int
	ID   string
	Err  error
}

func (e *RowError) Error() string {
	id := ""
	if e.ID != "" {
		id = fmt.Sprintf(" (id %q)", e.ID)
	}
	return fmt.Sprintf("%s:%d%s: %v", e.File, e.Line, id, e.Err)
}

func (e *RowError) Unwrap() error { return e.Err }

// Dataset is a loaded conversation file.
type Dataset struct {
	Path string
	Rows []Row
	// Skipped are the bad rows left out (DataOptions.SkipBad), in file
	// order, including those found later when the rows are tokenized.
	Skipped []*RowError
}

// DataOptions adjust LoadDataset.
type DataOptions struct {
	// SkipBad leaves bad rows out (counted in Dataset.Skipped) instead
	// of failing on the first one.
	SkipBad bool
}

// rawRow is a record as it appears in the file.
type rawRow struct {
	ID            json.RawMessage `json:"id"`
	Image         json.RawMessage `json:"image"`
	Conversations []Turn          `json:"conversations"`
}

// LoadDataset reads a JSON array or a JSONL file of LLaVA records. Each
// row is checked: valid JSON with conversations, turns alternating
// human/gpt starting with human, every image present and decodable, as
// many <image> placeholders as images. A bad row is an error naming its
// line (or, with SkipBad, is recorded in Skipped).
func LoadDataset(path string, opt DataOptions) (*Dataset, error) {
	data, err := fsx.ReadFile(path, maxDataBytes) // capped; a FIFO or device is refused, not waited on
	if err != nil {
		return nil, fmt.Errorf("train: data: %w", err)
	}
	ds := &Dataset{Path: path}
	bad := func(line int, id string, err error) error {
		re := &RowError{File: path, Line: line, ID: id, Err: err}
		if !opt.SkipBad {
			return re
		}
		ds.Skipped = append(ds.Skipped, re)
		return nil
	}
	add := func(line int, raw []byte) error {
		row, err := parseRow(raw, filepath.Dir(path))
		id := ""
		if row != nil {
			id = row.ID
		}
		if err != nil {
			return bad(line, id, err)
		}
		row.Line = line
		ds.Rows = append(ds.Rows, *row)
		return nil
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if err := eachArrayElement(data, add); err != nil {
			var re *RowError
			if errors.As(err, &re) {
				return nil, err
			}
			return nil, fmt.Errorf("train: data %s: %w", path, err)
		}
	} else {
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 1<<20), maxDataBytes)
		for line := 1; sc.Scan(); line++ {
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue
			}
			if err := add(line, sc.Bytes()); err != nil {
				return nil, err
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("train: data %s: %w", path, err)
		}
	}
	if len(ds.Rows) == 0 {
		return nil, fmt.Errorf("train: data %s has no usable rows (%d skipped)", path, len(ds.Skipped))
	}
	return ds, nil
}

// eachArrayElement calls fn with the 1-based line and bytes of every
// element of a JSON array.
func eachArrayElement(data []byte, fn func(line int, raw []byte) error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // '['
		return err
	}
	for dec.More() {
		start := dec.InputOffset()
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("line %d: %w", lineAt(data, start), err)
		}
		// The element starts after any separator and spaces.
		off := start
		for off < int64(len(data)) && strings.ContainsRune(" \t\r\n,", rune(data[off])) {
			off++
		}
		if err := fn(lineAt(data, off), raw); err != nil {
			return err
		}
	}
	return nil
}

func lineAt(data []byte, off int64) int { return 1 + bytes.Count(data[:off], []byte{'\n'}) }

// parseRow decodes and checks one record (images resolved against dir).
func parseRow(raw []byte, dir string) (*Row, error) {
	var r rawRow
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("not a JSON record: %w", err)
	}
	row := &Row{ID: strings.Trim(string(r.ID), `"`), Turns: r.Conversations}
	if len(r.Image) > 0 && string(r.Image) != "null" {
		var one string
		var many []string
		switch {
		case json.Unmarshal(r.Image, &one) == nil:
			many = []string{one}
		case json.Unmarshal(r.Image, &many) == nil:
		default:
			return row, errors.New(`"image" must be a path or a list of paths`)
		}
		for _, p := range many {
			if p == "" {
				return row, errors.New("empty image path")
			}
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			row.Images = append(row.Images, p)
		}
	}
	if len(row.Turns) == 0 {
		return row, errors.New(`no "conversations"`)
	}
	for i, t := range row.Turns {
		want := FromHuman
		if i%2 == 1 {
			want = FromGPT
		}
		if t.From != want {
			return row, fmt.Errorf("turn %d is from %q, want %q (turns alternate human, gpt)", i, t.From, want)
		}
	}
	placeholders := 0
	for _, t := range row.Turns {
		placeholders += strings.Count(t.Value, tokenizer.LlavaImageToken)
	}
	if placeholders != len(row.Images) {
		return row, fmt.Errorf("%d %s placeholders for %d images", placeholders, tokenizer.LlavaImageToken, len(row.Images))
	}
	for _, p := range row.Images {
		if _, err := os.Stat(p); err != nil {
			return row, fmt.Errorf("missing image: %w", err)
		}
		if _, err := fovea.LoadImage(p); err != nil {
			return row, fmt.Errorf("unreadable image %s: %w", p, err)
		}
	}
	return row, nil
}

// renderConversation builds the ids and labels of a conversation with the
// model's own chat template (fovea.Model.RenderChat, tokenized with
// fovea.Model.EncodeChat), the prompt text inference renders: this is the
// one place prompts are built. For the assistant message k, the prompt
// part is the render of messages[:k] with the generation prompt and the
// target part is the render of messages[:k+1] minus that prefix; a
// template whose renders do not extend each other is an error. A target
// that does not end in an end-of-sequence or end-of-turn token (HF's
// LLaVA-1.5 template ends assistant turns with a space) gets the
// tokenizer's EOS appended, so the model learns to stop. Everything else
// is IgnoreIndex. The <image> markers of a human turn become that
// message's images, shown before its text.
// stops are the ids that end a turn (stopTokens).
func renderConversation(m *fovea.Model, stops []int, turns []Turn) (ids, labels []int, err error) {
	tok := m.Tokenizer()
	if tok == nil {
		return nil, nil, errors.New("the model has no tokenizer")
	}
	msgs, err := conversationMessages(turns)
	if err != nil {
		return nil, nil, err
	}
	eos, eosText := tok.EOS(), ""
	if eos >= 0 {
		eosText, _ = tok.Token(eos)
		if got := tok.Encode(eosText, tokenizer.WithParseSpecial(true), tokenizer.WithAddSpecial(false)); !slices.Equal(got, []int{eos}) {
			eos = -1 // its text does not encode back to it: it cannot end a turn in text
		}
	}
	// text is the conversation so far as the model sees it (the renders,
	// plus any EOS appended); ids are its tokens.
	text, rendered := "", ""
	extend := func(add string, target bool, what string) error {
		next, err := m.EncodeChat(text + add)
		if err != nil {
			return err
		}
		if len(next) < len(ids) || !slices.Equal(next[:len(ids)], ids) {
			return fmt.Errorf("the tokens of %s do not extend those of the conversation before it (the tokenizer merges across the boundary)", what)
		}
		text += add
		for _, id := range next[len(ids):] {
			ids = append(ids, id)
			if target {
				labels = append(labels, id)
			} else {
				labels = append(labels, IgnoreIndex)
			}
		}
		return nil
	}
	// prompt renders msgs[:k] with the generation prompt, which must
	// extend the render of the turns before.
	prompt := func(k int) (string, error) {
		s, err := m.RenderChat(msgs[:k], true)
		if err != nil {
			return "", err
		}
		if !strings.HasPrefix(s, rendered) {
			return "", fmt.Errorf("the chat template's prompt for turn %d does not start with its render of the turns before (the template is not incremental)", k)
		}
		return s, nil
	}
	for k, msg := range msgs {
		if msg.Role != fovea.RoleAssistant {
			continue
		}
		p, err := prompt(k)
		if err != nil {
			return nil, nil, err
		}
		if err := extend(p[len(rendered):], false, fmt.Sprintf("the prompt of turn %d", k)); err != nil {
			return nil, nil, err
		}
		rendered = p
		full, err := m.RenderChat(msgs[:k+1], false)
		if err != nil {
			return nil, nil, err
		}
		if !strings.HasPrefix(full, p) {
			return nil, nil, fmt.Errorf("the chat template's render of turn %d does not start with its generation prompt", k)
		}
		if err := extend(full[len(p):], true, fmt.Sprintf("the answer of turn %d", k)); err != nil {
			return nil, nil, err
		}
		rendered = full
		if len(ids) == 0 || !slices.Contains(stops, ids[len(ids)-1]) {
			if eos < 0 {
				return nil, nil, fmt.Errorf("the answer of turn %d ends in no end-of-turn token and the tokenizer has no EOS token to append", k)
			}
			if err := extend(eosText, true, fmt.Sprintf("the EOS after turn %d", k)); err != nil {
				return nil, nil, err
			}
		}
	}
	if msgs[len(msgs)-1].Role != fovea.RoleAssistant { // a last question without an answer: context only
		p, err := prompt(len(msgs))
		if err != nil {
			return nil, nil, err
		}
		if err := extend(p[len(rendered):], false, "the last prompt"); err != nil {
			return nil, nil, err
		}
	}
	return ids, labels, nil
}

// conversationMessages turns LLaVA turns into chat messages: human turns
// are user messages whose <image> markers (with the newline after or
// before them) become images, gpt turns are assistant messages. Only the
// number of images matters to the template, so they are placeholders.
func conversationMessages(turns []Turn) ([]fovea.Message, error) {
	placeholder := image.NewGray(image.Rect(0, 0, 1, 1))
	msgs := make([]fovea.Message, 0, len(turns))
	for i, t := range turns {
		n := strings.Count(t.Value, tokenizer.LlavaImageToken)
		if t.From == FromGPT {
			if n > 0 {
				return nil, fmt.Errorf("turn %d (gpt) has an %s placeholder: images go in human turns", i, tokenizer.LlavaImageToken)
			}
			msgs = append(msgs, fovea.Message{Role: fovea.RoleAssistant, Text: t.Value})
			continue
		}
		text := t.Value
		for _, marker := range []string{tokenizer.LlavaImageToken + "\n", "\n" + tokenizer.LlavaImageToken, tokenizer.LlavaImageToken} {
			text = strings.ReplaceAll(text, marker, "")
		}
		msg := fovea.Message{Role: fovea.RoleUser, Text: text}
		for range n {
			msg.Images = append(msg.Images, placeholder)
		}
		msgs = append(msgs, msg)
	}
	return msgs, nil
}

// stopTokens are the ids that end an assistant turn: the tokenizer's EOS
// and the end-of-turn tokens of the chat formats we know.
func stopTokens(tok *tokenizer.Tokenizer) []int {
	out := []int{tok.EOS()}
	for _, s := range []string{"<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<end_of_turn>"} {
		if id, ok := tok.TokenID(s); ok {
			out = append(out, id)
		}
	}
	return out
}
