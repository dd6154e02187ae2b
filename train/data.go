package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/fovea-ml/fovea"
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
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("train: data: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxDataBytes+1))
	if err != nil {
		return nil, fmt.Errorf("train: data %s: %w", path, err)
	}
	if len(data) > maxDataBytes {
		return nil, fmt.Errorf("train: data %s is larger than %d bytes", path, maxDataBytes)
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
// model's chat template: every gpt turn (and the end-of-turn token after
// it) is a target, everything else is IgnoreIndex. Each "<image>" of a
// human turn becomes the template's image placeholder; the placeholders
// encode to imageToken. This is the one place prompts are built.
func renderConversation(tok *tokenizer.Tokenizer, tmpl tokenizer.ChatTemplate, turns []Turn) (ids, labels []int, err error) {
	enc := func(s string, target bool) {
		piece := tok.Encode(s, tokenizer.WithParseSpecial(true), tokenizer.WithAddSpecial(false))
		ids = append(ids, piece...)
		for _, id := range piece {
			if target {
				labels = append(labels, id)
			} else {
				labels = append(labels, IgnoreIndex)
			}
		}
	}
	eos := ""
	if e := tok.EOS(); e >= 0 {
		eos, _ = tok.Token(e)
	}
	switch tmpl {
	case tokenizer.Llava15:
		if b := tok.BOS(); b >= 0 {
			ids, labels = append(ids, b), append(labels, IgnoreIndex)
		}
		for i := 0; i < len(turns); i += 2 {
			enc("USER: "+turns[i].Value+" ASSISTANT:", false)
			if i+1 < len(turns) {
				enc(" "+turns[i+1].Value+eos, true)
			}
		}
	case tokenizer.Mllama:
		enc("<|begin_of_text|>", false)
		for i := 0; i < len(turns); i += 2 {
			h := strings.ReplaceAll(turns[i].Value, tokenizer.LlavaImageToken+"\n", tokenizer.MllamaImageToken)
			h = strings.ReplaceAll(h, tokenizer.LlavaImageToken, tokenizer.MllamaImageToken)
			enc("<|start_header_id|>user<|end_header_id|>\n\n"+h+"<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", false)
			if i+1 < len(turns) {
				enc(turns[i+1].Value+"<|eot_id|>", true)
			}
		}
	default:
		return nil, nil, fmt.Errorf("train: no conversation format for chat template %q", tmpl)
	}
	return ids, labels, nil
}
