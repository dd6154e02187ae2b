package tokenizer

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

const testdataDir = "../testdata/tokenizer"

func readFixture(t *testing.T, name string) ([]string, [][]int) {
	t.Helper()
	inp, err := os.ReadFile(filepath.Join(testdataDir, name+".inp"))
	require.NoError(t, err)
	out, err := os.ReadFile(filepath.Join(testdataDir, name+".out"))
	require.NoError(t, err)
	texts, err := parseVocabTestInput(string(inp))
	require.NoError(t, err)
	want, err := parseVocabTestOutput(string(out))
	require.NoError(t, err)
	require.Len(t, want, len(texts), "one .out line per .inp text")
	return texts, want
}

// checkFixture encodes every text (no BOS/EOS: the .out files were written
// by HF with add_special_tokens=False) and checks ids and the round trip.
func checkFixture(t *testing.T, tok *Tokenizer, fixture string) {
	texts, want := readFixture(t, fixture)
	for i, text := range texts {
		got := tok.Encode(text, WithAddSpecial(false))
		require.Equal(t, want[i], got, "text %d %q", i, text)
		back, err := tok.Decode(got)
		require.NoError(t, err)
		require.Equal(t, text, back, "decode of text %d", i)
	}
}

func TestGGUFFixtures(t *testing.T) {
	for _, name := range []string{"gpt-2", "llama-spm", "deepseek-llm"} {
		t.Run(name, func(t *testing.T) {
			file := "ggml-vocab-" + name + ".gguf"
			tok, err := LoadGGUF(filepath.Join(testdataDir, file))
			require.NoError(t, err)
			checkFixture(t, tok, file)
		})
	}
}

func TestHFGPT2Fixture(t *testing.T) {
	tok, err := Load(filepath.Join(testdataDir, "gpt2-hf"))
	require.NoError(t, err)
	require.Equal(t, 50257, tok.VocabSize())
	require.Equal(t, 50256, tok.BOS())
	require.Equal(t, 50256, tok.EOS())
	require.False(t, tok.AddsBOS())
	checkFixture(t, tok, "ggml-vocab-gpt-2.gguf")
}
