package train

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea"
	"github.com/fovea-ml/fovea/internal/traintest"
)

// TestExactMatch: on llava_tiny, an eval row whose answer is HF's greedy
// continuation (golden.json generated_ids) matches; the same row with one
// answer token changed does not.
func TestExactMatch(t *testing.T) {
	dir := filepath.Join(traintest.Root(), "testdata", "llava_tiny")
	m, err := fovea.Load(context.Background(), dir, fovea.ForTraining(), fovea.WithoutTokenizer())
	require.NoError(t, err)
	st := goldenFile(t, "llava_tiny")
	prompt := goldenInts(t, st, "input_ids")
	hf := []int{28, 202, 286, 353, 223, 337, 81, 374} // golden.json generated_ids
	row := func(answer []int) *example {
		e := &example{ids: append(append([]int(nil), prompt...), answer...), images: []string{filepath.Join(dir, "image.png")}}
		for range prompt {
			e.labels = append(e.labels, IgnoreIndex)
		}
		e.labels = append(e.labels, answer...)
		return e
	}
	wrong := append([]int(nil), hf...)
	wrong[3] = 5
	tr := &Trainer{model: m, eval: []*example{row(hf), row(wrong)}}
	got, err := tr.ExactMatch(context.Background())
	require.NoError(t, err)
	require.Equal(t, 0.5, got)
}
