package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// gpt2JSONWith loads the GPT-2 tokenizer.json with its normalizer replaced by
// normalizerJSON and extra added tokens appended (JSON objects).
func gpt2JSONWith(t testing.TB, normalizerJSON string, added ...string) (*Tokenizer, error) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testdataDir, "gpt2-hf", TokenizerJSON))
	require.NoError(t, err)
	var f map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(data, &f))
	f["normalizer"] = json.RawMessage(normalizerJSON)
	var tokens []json.RawMessage
	require.NoError(t, json.Unmarshal(f["added_tokens"], &tokens))
	for _, a := range added {
		tokens = append(tokens, json.RawMessage(a))
	}
	f["added_tokens"], err = json.Marshal(tokens)
	require.NoError(t, err)
	out, err := json.Marshal(f)
	require.NoError(t, err)
	return FromJSON(out, nil)
}

func mustGPT2JSONWith(t testing.TB, normalizerJSON string, added ...string) *Tokenizer {
	t.Helper()
	tok, err := gpt2JSONWith(t, normalizerJSON, added...)
	require.NoError(t, err)
	return tok
}

// TestNormalizerUnits checks each normalizer against hand-written Unicode
// facts (UAX #15 decompositions, SpecialCasing, White_Space).
func TestNormalizerUnits(t *testing.T) {
	cases := []struct {
		json, in, want string
	}{
		{`{"type":"NFC"}`, "e\u0301 A\u030a", "\u00e9 \u00c5"},
		{`{"type":"NFD"}`, "\u00e9\u00c5", "e\u0301A\u030a"},
		{`{"type":"NFKC"}`, "\ufb01 \uff11\uff12\uff13 x\u00b2 \u2460", "fi 123 x2 1"},
		{`{"type":"NFKD"}`, "\ufb01\u00e9", "fie\u0301"},
		{`{"type":"NFC"}`, "ok\xff\xfe", "ok\xff\xfe"}, // invalid UTF-8 passes through
		{`{"type":"Lowercase"}`, "HeLLo \u00c9\u03a3\u03a3 \u0130", "hello \u00e9\u03c3\u03c3 i\u0307"},
		{`{"type":"Lowercase"}`, "A\xffB", "a\xffb"},
		{`{"type":"Strip","strip_left":true,"strip_right":true}`, " \t\u3000hi there\u00a0\n", "hi there"},
		{`{"type":"Strip","strip_left":true,"strip_right":false}`, "  hi  ", "hi  "},
		{`{"type":"Strip","strip_left":false,"strip_right":true}`, "  hi  ", "  hi"},
		{`{"type":"StripAccents"}`, "Me llamo\u0301 \u0915\u093f", "Me llamo \u0915"},
		{`{"type":"Replace","pattern":{"String":"aa"},"content":"b"}`, "aaaaa", "bba"},
		{`{"type":"Replace","pattern":{"Regex":"\\s+"},"content":" "}`, "a \t\u00a0b\n\nc", "a b c"},
		{`{"type":"Replace","pattern":{"Regex":"(x)"},"content":"$1"}`, "axb", "a$1b"},
		{`{"type":"Prepend","prepend":"@@"}`, "word", "@@word"},
		{`{"type":"Prepend","prepend":"@@"}`, "", ""},
		{`{"type":"Sequence","normalizers":[{"type":"NFKD"},{"type":"StripAccents"},{"type":"Lowercase"},` +
			`{"type":"Strip","strip_left":true,"strip_right":true},{"type":"Replace","pattern":{"String":" "},"content":"\u2581"},` +
			`{"type":"Prepend","prepend":"\u2581"}]}`, "  Caf\u00e9 \uff21 ", "\u2581cafe\u2581a"},
		{`{"type":"Sequence","normalizers":[]}`, "As Is", "As Is"},
	}
	for _, c := range cases {
		var flags normalizerFlags
		n, err := parseNormalizer(json.RawMessage(c.json), &flags)
		require.NoError(t, err, c.json)
		got := c.in
		if n != nil {
			got = n.normalize(c.in)
		}
		require.Equal(t, c.want, got, "%s on %q", c.json, c.in)
	}
}

func TestNormalizerErrors(t *testing.T) {
	for _, c := range []struct{ json, want string }{
		{`{"type":"BertNormalizer","lowercase":true}`, `"BertNormalizer"`},
		{`{"type":"Precompiled","precompiled_charsmap":""}`, `"Precompiled"`},
		{`{"type":"Sequence","normalizers":[{"type":"NFC"},{"type":"Nmt"}]}`, `"Nmt"`},
		{`{"type":"Replace","pattern":{"Regex":"a(?=b)"},"content":""}`, "lookaround"},
		{`{"type":"Replace","pattern":{"Regex":"a("},"content":""}`, "Replace regex"},
		{`{"type":"Replace","content":"x"}`, "Replace"},
		{`{"type":"Strip","strip_left":true}`, "strip_right"},
		{`{"type":"Prepend"}`, "prepend"},
		{`{"lowercase":true}`, "type"},
	} {
		_, err := gpt2JSONWith(t, c.json)
		require.Error(t, err, c.json)
		require.Contains(t, err.Error(), c.want, c.json)
	}
}

// TestNFCEncode: with an NFC normalizer a decomposed é encodes exactly as
// the precomposed é does without one, and unlike the decomposed bytes.
func TestNFCEncode(t *testing.T) {
	plain := mustGPT2JSONWith(t, `null`)
	nfc := mustGPT2JSONWith(t, `{"type":"NFC"}`)
	for _, c := range []struct{ decomposed, composed string }{
		{"caf" + "e\u0301", "caf\u00e9"},
		{"Ange\u0300le et Zoe\u0308 a\u0300 No\u0308rdlingen", "Ang\u00e8le et Zo\u00eb \u00e0 N\u00f6rdlingen"},
		{"\u1100\u1161\u11a8", "\uac01"}, // Hangul jamo compose to one syllable
	} {
		want := plain.Encode(c.composed)
		require.Equal(t, want, nfc.Encode(c.decomposed), "%q", c.decomposed)
		require.NotEqual(t, want, plain.Encode(c.decomposed), "the input must really need normalizing")
	}
	// "é" (bytes C3 A9) is the single GPT-2 token "Ã©" in byte-level spelling.
	eAcute, ok := plain.TokenID("\u00c3\u00a9")
	require.True(t, ok)
	require.Equal(t, []int{eAcute}, nfc.Encode("e\u0301"))
}

func TestNFKCEncode(t *testing.T) {
	plain := mustGPT2JSONWith(t, `null`)
	nfkc := mustGPT2JSONWith(t, `{"type":"NFKC"}`)
	for _, c := range []struct{ in, folded string }{
		{"\ufb01nd the \ufb02ow", "find the flow"},
		{"room \uff11\uff12\uff13", "room 123"},
		{"H\u2082O and m\u00b2", "H2O and m2"},
	} {
		require.Equal(t, plain.Encode(c.folded), nfkc.Encode(c.in), "%q", c.in)
		require.NotEqual(t, plain.Encode(c.folded), plain.Encode(c.in))
	}
	// GPT-2 ids of "find" and " the" (from the vocabulary, independent of BPE).
	find, ok := plain.TokenID("find")
	require.True(t, ok)
	the, ok := plain.TokenID("Ġthe")
	require.True(t, ok)
	require.Equal(t, []int{find, the}, nfkc.Encode("\ufb01nd the"))
}

func TestSequenceEncode(t *testing.T) {
	plain := mustGPT2JSONWith(t, `null`)
	seq := mustGPT2JSONWith(t, `{"type":"Sequence","normalizers":[{"type":"NFC"},{"type":"Lowercase"},`+
		`{"type":"Replace","pattern":{"Regex":" {2,}"},"content":" "}]}`)
	require.Equal(t, plain.Encode("hello w\u00f6rld, x"), seq.Encode("HELLO   WO\u0308RLD,  X"))
}

// TestNormalizedAddedTokens follows HF's AddedVocabulary: normalized=false
// tokens match the raw text, normalized=true tokens match the normalized
// text with their content normalized too; text around both is normalized.
func TestNormalizedAddedTokens(t *testing.T) {
	const (
		rawID  = 50257
		normID = 50258
	)
	tok := mustGPT2JSONWith(t, `{"type":"Lowercase"}`,
		`{"id":50257,"content":"<RAW>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}`,
		`{"id":50258,"content":"Zeta","single_word":false,"lstrip":false,"rstrip":false,"normalized":true,"special":false}`)
	plain := mustGPT2JSONWith(t, `null`)
	hi := plain.Encode("hi")
	ab := plain.Encode(" ab")
	// Raw token: only the exact raw spelling splits; its lowercase does not.
	require.Equal(t, append(append(append([]int{}, hi...), rawID), ab...), tok.Encode("HI<RAW> AB"))
	require.Equal(t, plain.Encode("hi<raw>"), tok.Encode("HI<raw>"))
	// Normalized token "Zeta" -> "zeta" matches ZETA, Zeta and zeta alike.
	for _, s := range []string{"hiZETA ab", "hiZeta ab", "hizeta AB"} {
		require.Equal(t, append(append(append([]int{}, hi...), normID), ab...), tok.Encode(s), s)
	}
	back, err := tok.Decode([]int{normID, rawID})
	require.NoError(t, err)
	require.Equal(t, "Zeta<RAW>", back)
}

// llama2StyleJSON is a tiny SentencePiece tokenizer.json whose spaces and
// prefix come from normalizers, as Llama-2's does.
const llama2StyleJSON = `{
 "added_tokens": [
  {"id":1,"content":"<s>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},
  {"id":2,"content":"</s>","single_word":false,"lstrip":false,"rstrip":false,"normalized":true,"special":true}],
 "normalizer": {"type":"Sequence","normalizers":[
  {"type":"Prepend","prepend":"\u2581"},
  {"type":"Replace","pattern":{"String":" "},"content":"\u2581"}]},
 "pre_tokenizer": null,
 "model": {"type":"BPE","unk_token":"<unk>","byte_fallback":false,
  "vocab": {"<unk>":0,"<s>":1,"</s>":2,"\u2581":3,"h":4,"i":5,"\u2581h":6,"\u2581hi":7},
  "merges": ["\u2581 h","\u2581h i"]}}`

func TestLlama2StyleNormalizers(t *testing.T) {
	tok, err := FromJSON([]byte(llama2StyleJSON), nil)
	require.NoError(t, err)
	require.Equal(t, SentencePiece, tok.Family())
	const hi, bos, eos = 7, 1, 2
	// Prepend applies to every segment between raw-matched tokens (legacy).
	require.Equal(t, []int{hi, hi}, tok.Encode("hi hi"))
	require.Equal(t, []int{hi, bos, hi}, tok.Encode("hi<s>hi"))
	// A normalized=true token is matched in normalized text with its content
	// normalized: "</s>" -> "▁</s>" matches "hi </s>" (HF's own example).
	require.Equal(t, []int{hi, eos}, tok.Encode("hi </s>"))
	back, err := tok.Decode([]int{hi, hi, bos, hi})
	require.NoError(t, err)
	require.Equal(t, "hi hi<s>hi", back)
}

// metaspaceJSON is a tiny SentencePiece tokenizer.json whose spaces and
// prefix come from a Metaspace pre-tokenizer (Mistral / newer Llama
// conversions); PREPEND is replaced by the prepend_scheme under test.
const metaspaceJSON = `{
 "added_tokens": [
  {"id":1,"content":"<s>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}],
 "normalizer": null,
 "pre_tokenizer": {"type":"Metaspace","replacement":"\u2581","prepend_scheme":"PREPEND","split":true},
 "model": {"type":"BPE","unk_token":"<unk>","byte_fallback":false,
  "vocab": {"<unk>":0,"<s>":1,"</s>":2,"\u2581":3,"h":4,"i":5,"\u2581h":6,"\u2581hi":7},
  "merges": ["\u2581 h","\u2581h i"]}}`

// TestMetaspacePrependRules follows HF tokenizers' Metaspace.pre_tokenize:
// spaces become '▁', then '▁' is prepended only when the split does not
// already start with one ("always"), and for "first" only to the split at
// offset 0 of the input (not to text after an added token).
func TestMetaspacePrependRules(t *testing.T) {
	const meta, h, i, hi, bos = 3, 4, 5, 7, 1
	always, err := FromJSON([]byte(strings.ReplaceAll(metaspaceJSON, "PREPEND", "always")), nil)
	require.NoError(t, err)
	require.Equal(t, []int{hi}, always.Encode("hi"))
	require.Equal(t, []int{hi}, always.Encode(" hi"), "a leading space is the prefix; no second '▁'")
	require.Equal(t, []int{meta, hi}, always.Encode("  hi"))
	require.Equal(t, []int{bos, hi}, always.Encode("<s>hi"))

	first, err := FromJSON([]byte(strings.ReplaceAll(metaspaceJSON, "PREPEND", "first")), nil)
	require.NoError(t, err)
	require.Equal(t, []int{hi, hi}, first.Encode("hi hi"))
	require.Equal(t, []int{bos, h, i}, first.Encode("<s>hi"), "text after an added token is not at offset 0")
}
