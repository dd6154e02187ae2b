package train

import (
	"context"
	"fmt"
	"image"
	"slices"

	"github.com/fovea-ml/fovea"
	"github.com/fovea-ml/fovea/decoder"
)

// firstAnswer splits an example at its first target span: the prompt
// before it and the answer ids (the first gpt turn with its end token).
func firstAnswer(e *example) (prompt, answer []int) {
	start := -1
	for i, l := range e.labels {
		if l != IgnoreIndex {
			start = i
			break
		}
	}
	if start < 0 {
		return nil, nil
	}
	end := start
	for end < len(e.labels) && e.labels[end] != IgnoreIndex {
		end++
	}
	return e.ids[:start], e.ids[start:end]
}

// ExactMatch is the share of eval rows (the training rows when there is no
// eval data) whose first answer the model generates exactly, token for
// token, by greedy decoding from the prompt with its images. The model
// is the one being trained, with its current weights (inference reads
// the same tensors).
func (t *Trainer) ExactMatch(ctx context.Context) (float64, error) {
	exs := t.eval
	if exs == nil {
		exs = t.data
	}
	hits := 0
	for _, e := range exs {
		prompt, answer := firstAnswer(e)
		var imgs []image.Image
		for _, p := range e.images {
			img, err := fovea.LoadImage(p)
			if err != nil {
				return 0, fmt.Errorf("train: line %d: %w", e.line, err)
			}
			imgs = append(imgs, img)
		}
		req := fovea.Request{IDs: prompt, Images: imgs, Options: decoder.GenerateOptions{
			MaxNewTokens: len(answer), StopTokens: []int{answer[len(answer)-1]}}}
		var got []int
		for tok, err := range t.model.Generate(ctx, req) {
			if err != nil {
				return 0, fmt.Errorf("train: line %d: %w", e.line, err)
			}
			got = append(got, tok.ID)
		}
		if slices.Equal(got, answer) {
			hits++
		}
	}
	return float64(hits) / float64(len(exs)), nil
}
