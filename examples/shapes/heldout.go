package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/fovea-ml/fovea"
	"github.com/fovea-ml/fovea/examples/shapes/internal/shapes"
	"github.com/fovea-ml/fovea/tokenizer"
)

// answersFile holds a training run's held-out answers, one JSON line per
// row as -eval prints them.
const answersFile = "heldout_answers.jsonl"

// loadTokenizer reads the tokenizer prepare wrote to dir.
func loadTokenizer(dir string) (*tokenizer.Tokenizer, error) { return tokenizer.Load(dir) }

// questionKind is the spec's question type of a question text.
func questionKind(q string) shapes.QuestionType {
	switch {
	case strings.HasPrefix(q, "How many"):
		return shapes.Count
	case strings.HasPrefix(q, "What colour"):
		return shapes.ColourOf
	case strings.HasPrefix(q, "What shape"):
		return shapes.ShapeAt
	case strings.HasPrefix(q, "Where is"):
		return shapes.Where
	}
	return shapes.Describe
}

// evaluateHeldOut answers every held-out row with the trained model,
// writes the answers to dir/heldout_answers.jsonl, and prints the
// accuracy per question kind, then "accuracy: X" as the last line.
func evaluateHeldOut(ctx context.Context, log io.Writer, m *fovea.Model, jsonl, dir string, maxNew int, st *stageTimer) error {
	rows, err := shapes.ReadRows(jsonl)
	if err != nil {
		return err
	}
	var lines strings.Builder
	enc := json.NewEncoder(&lines)
	enc.SetEscapeHTML(false)
	var all score
	kinds := map[shapes.QuestionType]*score{}
	for _, k := range shapes.QuestionTypes {
		kinds[k] = &score{}
	}
	for _, r := range rows {
		q, got, err := answerRow(ctx, m, jsonl, r, maxNew)
		if err != nil {
			return err
		}
		if err := enc.Encode(evalLine{ID: r.ID, Answer: got}); err != nil {
			return err
		}
		if want, ok := r.Answer(); ok {
			ok := shapes.Match(got, want)
			all.add(ok)
			kinds[questionKind(q)].add(ok)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, answersFile), []byte(lines.String()), 0o644); err != nil {
		return err
	}
	var per []string
	for _, k := range shapes.QuestionTypes {
		if kinds[k].n > 0 {
			per = append(per, fmt.Sprintf("%s %s (%d)", k, kinds[k], kinds[k].n))
		}
	}
	st.done("held-out: %d rows; %s; answers in %s", all.n, strings.Join(per, ", "), filepath.Join(dir, answersFile))
	if all.n == 0 {
		return fmt.Errorf("%s has no answers to score", jsonl)
	}
	_, err = fmt.Fprintf(log, "accuracy: %s\n", all)
	return err
}
