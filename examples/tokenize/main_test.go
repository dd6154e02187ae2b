package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMatchesReferenceOutput runs the command on every tokenizer fixture
// and compares its output with the .out file HF tokenizers produced, byte
// for byte (what `diff` checks).
func TestMatchesReferenceOutput(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "tokenizer")
	cases := map[string]string{
		"ggml-vocab-gpt-2.gguf":        "ggml-vocab-gpt-2.gguf",
		"ggml-vocab-llama-spm.gguf":    "ggml-vocab-llama-spm.gguf",
		"ggml-vocab-deepseek-llm.gguf": "ggml-vocab-deepseek-llm.gguf",
		"gpt2-hf/tokenizer.json":       "ggml-vocab-gpt-2.gguf", // same ids as the GPT-2 GGUF
	}
	for vocab, fixture := range cases {
		t.Run(vocab, func(t *testing.T) {
			var out bytes.Buffer
			require.NoError(t, run(&out, filepath.Join(dir, vocab), filepath.Join(dir, fixture+".inp"), false))
			want, err := os.ReadFile(filepath.Join(dir, fixture+".out"))
			require.NoError(t, err)
			require.Equal(t, string(want), out.String())
		})
	}
}

func TestBadArguments(t *testing.T) {
	var out bytes.Buffer
	require.ErrorContains(t, run(&out, "", "x.inp", false), "-vocab")
	require.Error(t, run(&out, filepath.Join("..", "..", "testdata", "tokenizer", "ggml-vocab-gpt-2.gguf.inp"), "x.inp", false))
}
