package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"path/filepath"
	"slices"

	"github.com/fovea-ml/fovea"
	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/examples/shapes/internal/shapes"
	"github.com/fovea-ml/fovea/tokenizer"
)

// evalLine is one line of -eval's output; the field order is the contract.
type evalLine struct {
	ID     string `json:"id"`
	Answer string `json:"answer"`
}

// runEval answers every row of the JSONL file with the model folder and
// prints one JSON line per row, then the accuracy over rows that carry an
// expected answer.
func runEval(ctx context.Context, out io.Writer, jsonl, modelDir string, maxNew int) error {
	rows, err := shapes.ReadRows(jsonl)
	if err != nil {
		return err
	}
	m, err := fovea.Load(ctx, modelDir)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	var sc score
	for _, r := range rows {
		_, got, err := answerRow(ctx, m, jsonl, r, maxNew)
		if err != nil {
			return err
		}
		if err := enc.Encode(evalLine{ID: r.ID, Answer: got}); err != nil {
			return err
		}
		if want, ok := r.Answer(); ok {
			sc.add(shapes.Match(got, want))
		}
	}
	if sc.n > 0 {
		_, err = fmt.Fprintf(out, "accuracy: %s\n", sc)
	}
	return err
}

// answerRow answers one row of the LLaVA file jsonl: its human turn, with
// its image (a path relative to the file) when it has one. It returns the
// question and the answer.
func answerRow(ctx context.Context, m *fovea.Model, jsonl string, r shapes.Row, maxNew int) (q, got string, err error) {
	if q, err = r.Question(); err != nil {
		return "", "", err
	}
	var imgs []image.Image
	if r.Image != "" {
		img, err := fovea.LoadImage(filepath.Join(filepath.Dir(jsonl), filepath.FromSlash(r.Image)))
		if err != nil {
			return "", "", fmt.Errorf("row %q: %w", r.ID, err)
		}
		imgs = append(imgs, img)
	}
	if got, err = answer(ctx, m, imgs, q, maxNew); err != nil {
		return "", "", fmt.Errorf("row %q: %w", r.ID, err)
	}
	return q, got, nil
}

// score counts exact matches.
type score struct{ right, n int }

func (s *score) add(ok bool) {
	s.n++
	if ok {
		s.right++
	}
}

// String is the accuracy with three decimals, as "accuracy: 0.973" shows it.
func (s score) String() string { return fmt.Sprintf("%.3f", float64(s.right)/float64(s.n)) }

// answer asks one question about the images and returns the generated
// text, greedy, up to the first end token. It is the one place that calls
// the root package's inference API (Load's Model, Generate), so a rework
// of that API changes only this function.
func answer(ctx context.Context, m *fovea.Model, imgs []image.Image, question string, maxNew int) (string, error) {
	tok := m.Tokenizer()
	if tok == nil {
		return "", errors.New("the model folder has no tokenizer")
	}
	tmpl, err := chatTemplateOf(m)
	if err != nil {
		return "", err
	}
	ids, err := tok.EncodeChat(tmpl, question, len(imgs))
	if err != nil {
		return "", err
	}
	stop := stopTokens(m, tok)
	req := fovea.Request{IDs: ids, Images: imgs, Options: decoder.GenerateOptions{MaxNewTokens: maxNew, StopTokens: stop}}
	var gen []int
	for t, err := range m.Generate(ctx, req) {
		if err != nil {
			return "", err
		}
		// An id past the tokenizer (a padded embedding table's spare
		// rows) has no text: the answer ends there.
		if slices.Contains(stop, t.ID) || t.ID >= tok.VocabSize() {
			break
		}
		gen = append(gen, t.ID)
	}
	return tok.Decode(gen)
}

// chatTemplateOf is the prompt format of the model's family: the shapes
// models' tokenizer_config.json chat templates render exactly these.
func chatTemplateOf(m *fovea.Model) (tokenizer.ChatTemplate, error) {
	switch m.Kind() {
	case fovea.KindLlava:
		return tokenizer.Llava15, nil
	case fovea.KindMllama:
		return tokenizer.Mllama, nil
	}
	return "", fmt.Errorf("a %s model cannot answer questions about images", m.Kind())
}

// stopTokens ends an answer at the tokenizer's EOS, Llama-3's <|eot_id|>
// and the config's eos_token_id.
func stopTokens(m *fovea.Model, tok *tokenizer.Tokenizer) []int {
	var stop []int
	if id := tok.EOS(); id >= 0 {
		stop = append(stop, id)
	}
	if id, ok := tok.TokenID(tokEOT); ok {
		stop = append(stop, id)
	}
	c := m.Config()
	switch {
	case c.Llava != nil:
		stop = append(stop, c.Llava.TextConfig.EOSTokenID...)
	case c.Mllama != nil:
		stop = append(stop, c.Mllama.TextConfig.EOSTokenID...)
	}
	return stop
}
