package tokenizer

import (
	"testing"
)

// FuzzFromJSON loads arbitrary tokenizer.json bytes: loading never panics,
// and a tokenizer that loads encodes any text to ids inside its
// vocabulary and decodes them without error.
func FuzzFromJSON(f *testing.F) {
	for _, js := range []string{
		`{"pre_tokenizer":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}`,
		`{"pre_tokenizer":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":[["a","b"]]},"added_tokens":[{"id":3,"content":"<s>","special":true}]}`,
		`{"normalizer":{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]},"model":{"type":"BPE","vocab":{"<unk>":0,"▁":1,"a":2,"▁a":3,"<0x61>":4},"merges":["▁ a"],"unk_token":"<unk>","byte_fallback":true},"decoder":{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]}}`,
		`{"normalizer":{"type":"Sequence","normalizers":[{"type":"NFKC"},{"type":"Lowercase"},{"type":"Strip","strip_left":true,"strip_right":true}]},"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"\\s+"},"behavior":"Isolated"},{"type":"ByteLevel","use_regex":false}]},"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}`,
		`{"normalizer":{"type":"Replace","pattern":{"Regex":"a+"},"content":"bb"},"pre_tokenizer":{"type":"Digits","individual_digits":true},"model":{"type":"BPE","vocab":{"a":0,"b":1},"merges":[]}}`,
		`{"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>"}},{"Sequence":{"id":"A"}}]},"pre_tokenizer":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":{"<s>":0,"a":1},"merges":[]},"added_tokens":[{"id":0,"content":"<s>","special":true}]}`,
		replaceChain(16, "a", "aaaa"),
		`{"model":{"type":"BPE","vocab":{"a":2000000000},"merges":[]}}`,
	} {
		f.Add([]byte(js), "Hello wörld 123 <s> aaa\xff")
	}
	f.Fuzz(func(t *testing.T, js []byte, text string) {
		tok, err := FromJSON(js, nil)
		if err != nil {
			return
		}
		for _, special := range []bool{false, true} {
			ids := tok.Encode(text, WithParseSpecial(special))
			for _, id := range ids {
				if id < 0 || id >= tok.VocabSize() {
					t.Fatalf("id %d outside the vocabulary of %d", id, tok.VocabSize())
				}
			}
			if _, err := tok.Decode(ids); err != nil {
				t.Fatalf("Decode(Encode(%q)) = %v", text, err)
			}
		}
	})
}
