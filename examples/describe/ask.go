package main

import (
	"context"
	"fmt"
	"image"
	"io"
	"strings"

	"github.com/fovea-ml/fovea"
	"github.com/fovea-ml/fovea/decoder"
)

// questions is the repeatable -ask flag.
type questions []string

func (q *questions) String() string { return strings.Join(*q, " | ") }

func (q *questions) Set(s string) error {
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("-ask needs a question")
	}
	*q = append(*q, s)
	return nil
}

// ask answers each question about the images as a one-turn chat with the
// model's chat template, greedy, and prints "Q: …", "A: …" and the time
// the answer took (prefill, image encoding included, plus decode).
func ask(ctx context.Context, out io.Writer, m *fovea.Model, imgs []image.Image, qs []string, opts decoder.GenerateOptions) error {
	if m.Tokenizer() == nil {
		return fmt.Errorf("-ask needs a folder with a tokenizer")
	}
	for _, q := range qs {
		req := fovea.Request{
			Messages:          []fovea.Message{{Role: fovea.RoleUser, Text: q, Images: imgs}},
			Options:           opts,
			Greedy:            opts.Temperature == 0,
			SkipSpecialTokens: true,
		}
		res, err := m.Complete(ctx, req)
		if err != nil {
			return fmt.Errorf("%q: %w", q, err)
		}
		took := res.Prefill + res.Decode
		if _, err := fmt.Fprintf(out, "Q: %s\nA: %s   (%d tokens, %.1f ms)\n", q, strings.TrimSpace(res.Text),
			res.GeneratedTokens, float64(took.Microseconds())/1000); err != nil {
			return err
		}
	}
	return nil
}
