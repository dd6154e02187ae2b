package tokenizer

import (
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// benchCorpusBytes is the size of the benchmark text.
const benchCorpusBytes = 4 << 20

// benchCorpus builds a few MB of mixed English, code and multilingual text by
// shuffling the lines and words of the committed sample.
func benchCorpus(tb testing.TB) string {
	data, err := os.ReadFile(filepath.Join(testdataDir, "sample.txt"))
	require.NoError(tb, err)
	lines := strings.Split(string(data), "\n")
	rng := rand.New(rand.NewSource(1))
	var b strings.Builder
	for b.Len() < benchCorpusBytes {
		words := strings.Split(lines[rng.Intn(len(lines))], " ")
		rng.Shuffle(len(words), func(i, j int) { words[i], words[j] = words[j], words[i] })
		b.WriteString(strings.Join(words, " "))
		b.WriteByte('\n')
	}
	return b.String()
}

func BenchmarkEncodeGPT2(b *testing.B) {
	tok := loadGPT2(b)
	text := benchCorpus(b)
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tok.Encode(text)
	}
}

func BenchmarkEncodeLlamaSPM(b *testing.B) {
	tok, err := LoadGGUF(filepath.Join(testdataDir, "ggml-vocab-llama-spm.gguf"))
	require.NoError(b, err)
	text := benchCorpus(b)[:benchCorpusBytes/8]
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tok.Encode(text)
	}
}

// BenchmarkEncodeGPT2NFC is GPT-2 behind a Qwen2-style NFC normalizer.
func BenchmarkEncodeGPT2NFC(b *testing.B) {
	tok := mustGPT2JSONWith(b, `{"type":"NFC"}`)
	text := benchCorpus(b)
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tok.Encode(text)
	}
}
