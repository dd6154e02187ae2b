package tokenizer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func loadGPT2(tb testing.TB) *Tokenizer {
	tb.Helper()
	tok, err := LoadGGUF(filepath.Join(testdataDir, "ggml-vocab-gpt-2.gguf"))
	require.NoError(tb, err)
	return tok
}

func splitAll(s splitter, text string) []string { return s.split(text, nil) }

// Expected pieces below are worked out by hand from the reference regexes.
func TestGPT2Splitter(t *testing.T) {
	cases := map[string][]string{
		"Hello world":      {"Hello", " world"},
		"  Hello":          {" ", " Hello"},
		"a  \tb":           {"a", "  ", "\t", "b"},
		"I've 'told she'S": {"I", "'ve", " '", "told", " she", "'", "S"},
		"x   ":             {"x", "   "},
		"3.14abc\n\n z":    {"3", ".", "14", "abc", "\n\n", " z"},
		"\xff\xfeok":       {"\xff\xfe", "ok"},
	}
	for in, want := range cases {
		require.Equal(t, want, splitAll(gpt2Splitter{}, in), "input %q", in)
	}
}

func TestLlama3Splitter(t *testing.T) {
	l3 := llama3Splitter{maxDigits: llama3DigitGroup}
	cases := map[string][]string{
		"Hello world":   {"Hello", " world"},
		"I'VE 12345 ok": {"I", "'VE", " ", "123", "45", " ok"},
		"(x) \n\n  y":   {"(x", ")", " \n\n", " ", " y"},
		"a ...\n\nb":    {"a", " ...\n\n", "b"},
		"\tfoo  ":       {"\tfoo", "  "},
		"\nfoo":         {"\n", "foo"},
	}
	for in, want := range cases {
		require.Equal(t, want, splitAll(l3, in), "input %q", in)
	}
	require.Equal(t, []string{"1", "2", "3"}, splitAll(llama3Splitter{maxDigits: qwen2DigitGroup}, "123"))
}

// TestPatternSplittersCoverInput checks the split invariant on the sample.
func TestPatternSplittersCoverInput(t *testing.T) {
	sample, err := os.ReadFile(filepath.Join(testdataDir, "sample.txt"))
	require.NoError(t, err)
	for _, name := range []string{"gpt-2", "llama3", "qwen2", "starcoder", "deepseek-llm", "deepseek-coder", "falcon", "default"} {
		p, err := newPreTokenizerByName(name)
		require.NoError(t, err, name)
		pieces := p.split(string(sample), nil)
		require.Equal(t, string(sample), strings.Join(pieces, ""), name)
		for _, pc := range pieces {
			require.NotEmpty(t, pc, name)
		}
	}
}

func TestMergeHeapMatchesLinear(t *testing.T) {
	tok := loadGPT2(t)
	sample, err := os.ReadFile(filepath.Join(testdataDir, "sample.txt"))
	require.NoError(t, err)
	words := append(strings.Fields(string(sample)), strings.Repeat("ab", 200), strings.Repeat(" ", 100), string(sample))
	for _, w := range words {
		a := tok.wordSymbols(w, nil)
		b := append([]int32(nil), a...)
		require.Equal(t, tok.merges.mergeLinear(a), tok.merges.mergeHeap(b), "word %q", w)
	}
}

func TestSpecialTokens(t *testing.T) {
	tok := loadGPT2(t)
	eot, ok := tok.TokenID("<|endoftext|>")
	require.True(t, ok)
	require.Equal(t, 50256, eot)
	ids := tok.Encode("Hello<|endoftext|> world")
	require.Equal(t, []int{15496, eot, 995}, ids) // Hello, <|endoftext|>, Ġworld
	plain := tok.Encode("<|endoftext|>", WithParseSpecial(false))
	require.NotContains(t, plain, eot)
	back, err := tok.Decode(plain)
	require.NoError(t, err)
	require.Equal(t, "<|endoftext|>", back)
	_, err = tok.Decode([]int{1, 1 << 30})
	require.ErrorContains(t, err, "outside the vocabulary")
}

func TestSentencePieceBOS(t *testing.T) {
	tok, err := LoadGGUF(filepath.Join(testdataDir, "ggml-vocab-llama-spm.gguf"))
	require.NoError(t, err)
	require.Equal(t, 1, tok.BOS())
	require.Equal(t, 2, tok.EOS())
	require.Equal(t, []int{1, 15043, 3186}, tok.Encode("Hello world"))      // ▁Hello ▁world
	require.Equal(t, []int{1, 15043, 1, 3186}, tok.Encode("Hello<s>world")) // prefix space after a control token
	require.Equal(t, []int{1}, tok.Encode(""))
}

func TestCorruptTokenizerJSON(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(testdataDir, "gpt2-hf", TokenizerJSON))
	require.NoError(t, err)
	cases := map[string]string{
		"truncated":   string(good[:len(good)/2]),
		"not json":    "hello",
		"empty vocab": `{"model":{"type":"BPE","vocab":{},"merges":[]},"pre_tokenizer":{"type":"ByteLevel"}}`,
		"bad merge":   `{"model":{"type":"BPE","vocab":{"a":0,"b":1},"merges":["a c"]},"pre_tokenizer":{"type":"ByteLevel"}}`,
		"merge shape": `{"model":{"type":"BPE","vocab":{"a":0},"merges":["ab"]},"pre_tokenizer":{"type":"ByteLevel"}}`,
		"huge id":     `{"model":{"type":"BPE","vocab":{"a":2000000000},"merges":[]},"pre_tokenizer":{"type":"ByteLevel"}}`,
		"dup id":      `{"model":{"type":"BPE","vocab":{"a":0,"b":0},"merges":[]},"pre_tokenizer":{"type":"ByteLevel"}}`,
		"unigram":     `{"model":{"type":"Unigram","vocab":[]}}`,
		"lookahead":   `{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"a(?=b)"},"behavior":"Isolated"},{"type":"ByteLevel","use_regex":false}]}}`,
		"unknown pre": `{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":{"type":"BertPreTokenizer"}}`,
	}
	for name, data := range cases {
		_, err := FromJSON([]byte(data), nil)
		require.Error(t, err, name)
	}
}

func TestCorruptGGUF(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testdataDir, "ggml-vocab-gpt-2.gguf"))
	require.NoError(t, err)
	dir := t.TempDir()
	for _, n := range []int{0, 3, 24, 1000, len(data) / 2, len(data) - 1} {
		p := filepath.Join(dir, "cut.gguf")
		require.NoError(t, os.WriteFile(p, data[:n], 0o600))
		_, err := LoadGGUF(p)
		require.Error(t, err, "cut at %d", n)
	}
}

func FuzzRoundTrip(f *testing.F) {
	gpt2 := loadGPT2(f)
	spm, err := LoadGGUF(filepath.Join(testdataDir, "ggml-vocab-llama-spm.gguf"))
	require.NoError(f, err)
	for _, s := range []string{"", " ", "Hello world", "\xff\x00ab", "🦙 x\t\n", "<s>x", "ied 4 ½ months"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids := gpt2.Encode(s, WithParseSpecial(false))
		back, err := gpt2.Decode(ids)
		require.NoError(t, err)
		require.Equal(t, s, back, "byte-level")
		if !utf8.ValidString(s) {
			return // SentencePiece text is Unicode; its byte fallback covers valid UTF-8
		}
		ids = spm.Encode(s, WithAddSpecial(false), WithParseSpecial(false))
		back, err = spm.Decode(ids)
		require.NoError(t, err)
		require.Equal(t, s, back, "sentencepiece")
	})
}
