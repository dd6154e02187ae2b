package train

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea"
	"github.com/fovea-ml/fovea/internal/traintest"
)

// writeData writes rows (one per line) next to a copy of the test images.
func writeData(t *testing.T, name string, rows ...string) string {
	t.Helper()
	dir := t.TempDir()
	img := filepath.Join(traintest.DataDir(), "images")
	require.NoError(t, os.Symlink(img, filepath.Join(dir, "images")))
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(strings.Join(rows, "\n")+"\n"), 0o644))
	return p
}

const goodRow = `{"id": "ok", "image": "images/red.png", "conversations": [{"from": "human", "value": "<image>\nColor?"}, {"from": "gpt", "value": "red"}]}`

// TestBadRowsAtLoad: every row problem found while reading the file is
// reported with its file, line and id, or skipped and counted.
func TestBadRowsAtLoad(t *testing.T) {
	cases := []struct{ name, row, msg string }{
		{"missing image", `{"id": "m", "image": "images/nope.png", "conversations": [{"from": "human", "value": "<image>\nx"}, {"from": "gpt", "value": "y"}]}`, "missing image"},
		{"unreadable image", `{"id": "u", "image": "images/broken.png", "conversations": [{"from": "human", "value": "<image>\nx"}, {"from": "gpt", "value": "y"}]}`, "unreadable image"},
		{"more placeholders than images", `{"id": "p", "image": "images/red.png", "conversations": [{"from": "human", "value": "<image>\n<image>\nx"}, {"from": "gpt", "value": "y"}]}`, "2 <image> placeholders for 1 images"},
		{"fewer placeholders than images", `{"id": "q", "image": "images/red.png", "conversations": [{"from": "human", "value": "x"}, {"from": "gpt", "value": "y"}]}`, "0 <image> placeholders for 1 images"},
		{"not JSON", `{"id": "j", "image": `, "not a JSON record"},
		{"no conversations", `{"id": "c", "image": "images/red.png"}`, `no "conversations"`},
		{"turn order", `{"id": "o", "conversations": [{"from": "gpt", "value": "y"}]}`, `turn 0 is from "gpt", want "human"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeData(t, "bad.jsonl", goodRow, goodRow, c.row)
			_, err := LoadDataset(p, DataOptions{})
			require.Error(t, err)
			var re *RowError
			require.ErrorAs(t, err, &re)
			require.Equal(t, 3, re.Line)
			require.Contains(t, err.Error(), "bad.jsonl:3")
			require.Contains(t, err.Error(), c.msg)
			ds, err := LoadDataset(p, DataOptions{SkipBad: true})
			require.NoError(t, err)
			require.Len(t, ds.Rows, 2)
			require.Len(t, ds.Skipped, 1)
			require.Contains(t, ds.Skipped[0].Error(), c.msg)
		})
	}
	// A JSON array names the line where each element starts.
	p := writeData(t, "bad.json", "[", goodRow+",", "", `  {"id": "x", "image": "images/nope.png", "conversations": [{"from": "human", "value": "<image>"}, {"from": "gpt", "value": "y"}]}`, "]")
	_, err := LoadDataset(p, DataOptions{})
	require.ErrorContains(t, err, "bad.json:4 (id \"x\"): missing image")
}

// TestBadRowsAtTokenize: problems found when the rows are tokenized with
// the model (no answer tokens, a context cut through image tokens) are
// reported with their line, or skipped and counted with SkipBad; a long
// text-only row is cut to the context.
func TestBadRowsAtTokenize(t *testing.T) {
	dir := traintest.Folder(t, "llava_tiny")
	m, err := fovea.Load(context.Background(), dir, fovea.ForTraining())
	require.NoError(t, err)
	r, err := Builtin(RecipeProjector)
	require.NoError(t, err)
	long := strings.Repeat("many words here ", 40)
	cases := []struct {
		name, row, msg string
		maxLen         int
	}{
		{"every label masked", `{"id": "n", "image": "images/red.png", "conversations": [{"from": "human", "value": "<image>\nOnly a question"}]}`, "every label is masked", 0},
		{"context cuts image tokens", `{"id": "c", "conversations": [{"from": "human", "value": "` + long + `"}, {"from": "gpt", "value": "y"}, {"from": "human", "value": "<image>\nAnd?"}, {"from": "gpt", "value": "z"}], "image": "images/red.png"}`, "would cut image tokens", 64},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeData(t, "bad.jsonl", goodRow, c.row)
			ds, err := LoadDataset(p, DataOptions{})
			require.NoError(t, err)
			_, err = New(m, ds, nil, Config{Recipe: r, MaxLen: c.maxLen}, t.TempDir())
			require.ErrorContains(t, err, "bad.jsonl:2")
			require.ErrorContains(t, err, c.msg)
			tr, err := New(m, ds, nil, Config{Recipe: r, MaxLen: c.maxLen, SkipBad: true}, t.TempDir())
			require.NoError(t, err)
			require.Len(t, tr.Skipped(), 1)
			require.Len(t, tr.data, 1)
		})
	}
	p := writeData(t, "long.jsonl", goodRow, `{"id": "l", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "`+long+`"}]}`)
	ds, err := LoadDataset(p, DataOptions{})
	require.NoError(t, err)
	tr, err := New(m, ds, nil, Config{Recipe: r, MaxLen: 64}, t.TempDir())
	require.NoError(t, err)
	require.Len(t, tr.data[1].ids, 64, "a text-only row is cut to the context")
}

// TestNonFiniteStops: a NaN weight makes the loss non-finite; the run
// stops with ErrNonFinite naming the step and writes no checkpoint.
func TestNonFiniteStops(t *testing.T) {
	f := newFixture(t, "llava_tiny")
	m, err := fovea.Load(context.Background(), f.dir, fovea.ForTraining())
	require.NoError(t, err)
	m.Parts().Projector.Linear1.Weight.Data[0] = float32(nan())
	out := t.TempDir()
	tr, err := New(m, f.data, nil, f.config(t, RecipeProjector, 2), out)
	require.NoError(t, err)
	_, err = tr.Run(context.Background(), 0)
	require.ErrorIs(t, err, ErrNonFinite)
	require.ErrorContains(t, err, "at step 1")
	_, err = LatestCheckpoint(out)
	require.Error(t, err)
}
