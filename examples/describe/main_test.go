package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/decoder"
	"github.com/stretchr/testify/require"
)

// TestGreedyMatchesHF runs the command on the tiny LLaVA checkpoint with
// the legacy-form prompt of the golden case (one <image> placeholder, the
// image file preprocessed by the command) and expects HF's greedy ids.
func TestGreedyMatchesHF(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "llava_tiny")
	raw, err := os.ReadFile(filepath.Join(dir, "golden.json"))
	require.NoError(t, err)
	var g struct {
		Prompt []int `json:"prompt_ids_legacy"`
		Want   []int `json:"generated_ids_legacy"`
	}
	require.NoError(t, json.Unmarshal(raw, &g))
	ids := make([]string, len(g.Prompt))
	for i, id := range g.Prompt {
		ids[i] = fmt.Sprint(id)
	}
	var out bytes.Buffer
	err = run(context.Background(), &out, dir, filepath.Join(dir, "image.png"), "", strings.Join(ids, ","), nil,
		decoder.GenerateOptions{MaxNewTokens: len(g.Want)})
	require.NoError(t, err)
	var got []int
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var id int
		_, err := fmt.Sscanf(line, "%d\t", &id)
		require.NoError(t, err, line)
		got = append(got, id)
	}
	require.Equal(t, g.Want, got)
}

// TestDefaultPrompt: with no prompt the command builds BOS + one image
// placeholder and streams the requested number of tokens.
func TestDefaultPrompt(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "llava_tiny")
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, dir, filepath.Join(dir, "image.png"), "", "", nil,
		decoder.GenerateOptions{MaxNewTokens: 3}))
	require.Len(t, strings.Split(strings.TrimSpace(out.String()), "\n"), 3)
}

func TestErrors(t *testing.T) {
	var out bytes.Buffer
	ctx := context.Background()
	dir := filepath.Join("..", "..", "testdata", "llava_tiny")
	require.ErrorContains(t, run(ctx, &out, "", "", "", "", nil, decoder.GenerateOptions{}), "-model")
	require.ErrorContains(t, run(ctx, &out, dir, filepath.Join(dir, "image.png"), "", "1,x", nil, decoder.GenerateOptions{}), "not a token id")
	require.Error(t, run(ctx, &out, dir, filepath.Join(dir, "missing.png"), "", "", nil, decoder.GenerateOptions{}))
	// A text prompt needs a tokenizer, which the tiny checkpoint lacks.
	require.ErrorContains(t, run(ctx, &out, dir, filepath.Join(dir, "image.png"), "hello", "", nil, decoder.GenerateOptions{MaxNewTokens: 1}), "tokenizer")
}

// -ask needs a tokenizer and goes alone.
func TestAskErrors(t *testing.T) {
	var out bytes.Buffer
	ctx := context.Background()
	dir := filepath.Join("..", "..", "testdata", "llava_tiny")
	img := filepath.Join(dir, "image.png")
	require.ErrorContains(t, run(ctx, &out, dir, img, "", "", []string{"What?"}, decoder.GenerateOptions{}), "tokenizer")
	require.ErrorContains(t, run(ctx, &out, dir, img, "hi", "", []string{"What?"}, decoder.GenerateOptions{}), "without -prompt")
	var q questions
	require.Error(t, q.Set("  "))
}
