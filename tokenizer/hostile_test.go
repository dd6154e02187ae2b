package tokenizer

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/fovea-ml/fovea/internal/gguf"
)

// replaceChain is a tokenizer.json whose normalizer is n chained
// Replace(old → content).
func replaceChain(n int, old, content string) string {
	var parts []string
	for range n {
		parts = append(parts, fmt.Sprintf(`{"type":"Replace","pattern":{"String":%q},"content":%q}`, old, content))
	}
	return `{"normalizer":{"type":"Sequence","normalizers":[` + strings.Join(parts, ",") +
		`]},"pre_tokenizer":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}`
}

// TestNormalizerBombRefused: 16 chained Replace("a" → "aaaa") would grow
// "a" to 4 GiB in Encode; it is refused at load, naming the limit.
func TestNormalizerBombRefused(t *testing.T) {
	for _, js := range []string{replaceChain(16, "a", "aaaa"), replaceChain(16, "a", "aa"),
		strings.Replace(replaceChain(16, "a", "aaaa"), `"String":"a"`, `"Regex":"a"`, -1)} {
		_, err := FromJSON([]byte(js), nil)
		if err == nil || !strings.Contains(err.Error(), "MaxNormalizerGrowth") {
			t.Fatalf("bomb loaded: %v", err)
		}
	}
	// Real chains load: Llama-2's Prepend + Replace, NFKC + lowercase.
	for _, js := range []string{
		`{"normalizer":{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]},"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}`,
		`{"normalizer":{"type":"Sequence","normalizers":[{"type":"NFKC"},{"type":"Lowercase"},{"type":"Replace","pattern":{"String":"a"},"content":"aaaa"}]},"pre_tokenizer":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}`,
	} {
		if _, err := FromJSON([]byte(js), nil); err != nil {
			t.Fatalf("real chain refused: %v", err)
		}
	}
}

// TestInconsistentAddedTokens: ids and contents must agree between
// model.vocab and added_tokens.
func TestInconsistentAddedTokens(t *testing.T) {
	base := `{"pre_tokenizer":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":{"j":0,"u":1,"ju":2},"merges":["j u"]},"added_tokens":[%s]}`
	for name, tc := range map[string]struct{ added, want string }{
		"reuses a vocab id":    {`{"id":2,"content":"<evil>","special":true}`, `which model.vocab gives to "ju"`},
		"two tokens at one id": {`{"id":3,"content":"<a>"},{"id":3,"content":"<b>"}`, "both have id 3"},
		"one content two ids":  {`{"id":3,"content":"<a>"},{"id":4,"content":"<a>"}`, "already has id 3"},
		"vocab content again":  {`{"id":3,"content":"ju"}`, "already has id 2"},
	} {
		_, err := FromJSON([]byte(fmt.Sprintf(base, tc.added)), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	// The usual layout (special tokens in both lists, same ids) loads.
	ok := fmt.Sprintf(base, `{"id":2,"content":"ju"},{"id":3,"content":"<s>","special":true},{"id":3,"content":"<s>","special":true}`)
	tok, err := FromJSON([]byte(ok), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ids := tok.Encode("<s>", WithParseSpecial(true)); len(ids) != 1 || ids[0] != 3 {
		t.Fatalf("Encode(<s>) = %v", ids)
	}
}

// ggufBuilder writes a GGUF v3 header with string, string-array,
// float32-array and int32-array metadata and no tensors.
type ggufBuilder struct {
	kv  bytes.Buffer
	nKV uint64
}

func (b *ggufBuilder) w(v any)         { binary.Write(&b.kv, binary.LittleEndian, v) }
func (b *ggufBuilder) s(v string)      { b.w(uint64(len(v))); b.kv.WriteString(v) }
func (b *ggufBuilder) key(k string)    { b.s(k); b.nKV++ }
func (b *ggufBuilder) str(k, v string) { b.key(k); b.w(uint32(8)); b.s(v) }
func (b *ggufBuilder) strs(k string, vs []string) {
	b.key(k)
	b.w(uint32(9))
	b.w(uint32(8))
	b.w(uint64(len(vs)))
	for _, v := range vs {
		b.s(v)
	}
}
func (b *ggufBuilder) f32s(k string, vs []float32) {
	b.key(k)
	b.w(uint32(9))
	b.w(uint32(6))
	b.w(uint64(len(vs)))
	b.w(vs)
}
func (b *ggufBuilder) file(t testing.TB) *gguf.File {
	var out bytes.Buffer
	out.WriteString("GGUF")
	binary.Write(&out, binary.LittleEndian, uint32(3))
	binary.Write(&out, binary.LittleEndian, uint64(0))
	binary.Write(&out, binary.LittleEndian, b.nKV)
	out.Write(b.kv.Bytes())
	g, err := gguf.Parse(bytes.NewReader(out.Bytes()), int64(out.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestGPT2GGUFWithoutByteTokens: a byte-level vocabulary lacking byte
// tokens would encode "héllo\x00\xff" to nothing; it is refused at load.
func TestGPT2GGUFWithoutByteTokens(t *testing.T) {
	var b ggufBuilder
	b.str(ggufModel, "gpt2")
	b.strs(ggufTokens, []string{"h", "e", "l", "o"})
	b.strs(ggufMerges, nil)
	_, err := fromGGUF(b.file(t))
	if err == nil || !strings.Contains(err.Error(), "byte tokens") {
		t.Fatalf("gpt2 GGUF without byte tokens: %v", err)
	}
}

// spmVocab is a llama-model GGUF vocabulary: the 256 byte pieces, then
// pieces, scored by their order.
func spmVocab(t testing.TB, pieces []string) *gguf.File {
	var b ggufBuilder
	tokens := make([]string, 0, 256+len(pieces))
	for i := range 256 {
		tokens = append(tokens, fmt.Sprintf("<0x%02X>", i))
	}
	tokens = append(tokens, pieces...)
	scores := make([]float32, len(tokens))
	for i := range scores {
		scores[i] = -float32(i)
	}
	b.str(ggufModel, "llama")
	b.strs(ggufTokens, tokens)
	b.f32s(ggufScores, scores)
	b.key(ggufAddBOS)
	b.w(uint32(7)) // bool
	b.w(uint8(0))
	return b.file(t)
}

// naiveScoreMerges is the quadratic definition: every split of every
// normal piece into two vocabulary pieces.
func naiveScoreMerges(tokens []string, scores []float32, types []TokenType, ids map[string]int32) map[uint64]bool {
	out := map[uint64]bool{}
	for id, tok := range tokens {
		if types[id] != TypeNormal && types[id] != TypeUserDefined && types[id] != TypeUndefined {
			continue
		}
		for i := 1; i < len(tok); i++ {
			if !utf8RuneStart(tok[i]) {
				continue
			}
			ia, ok1 := ids[tok[:i]]
			ib, ok2 := ids[tok[i:]]
			if ok1 && ok2 {
				out[pairKey(ia, ib)] = true
			}
		}
	}
	return out
}

// TestScoreMergesMatchNaive checks the hashed merge builder against the
// definition on random small vocabularies.
func TestScoreMergesMatchNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 50; trial++ {
		seen := map[string]bool{}
		var tokens []string
		for len(tokens) < 60 {
			n := 1 + r.IntN(5)
			var s strings.Builder
			for range n {
				s.WriteByte("abé"[r.IntN(3)])
			}
			if !seen[s.String()] {
				seen[s.String()] = true
				tokens = append(tokens, s.String())
			}
		}
		scores := make([]float32, len(tokens))
		types := make([]TokenType, len(tokens))
		ids := map[string]int32{}
		for i, s := range tokens {
			scores[i], types[i], ids[s] = float32(r.IntN(10)), TypeNormal, int32(i)
		}
		got := mergesFromScores(tokens, scores, types, ids)
		want := naiveScoreMerges(tokens, scores, types, ids)
		if len(got) != len(want) {
			t.Fatalf("trial %d: %d merges, want %d", trial, len(got), len(want))
		}
		for k := range want {
			if _, ok := got[k]; !ok {
				t.Fatalf("trial %d: merge %x missing", trial, k)
			}
		}
	}
}

// TestScoreMergesLongPiece: a 4 MB piece took minutes (quadratic in its
// length); now the load is linear. The deadline only guards against the
// old hang (the load takes milliseconds); speed is BenchmarkScoreMerges.
func TestScoreMergesLongPiece(t *testing.T) {
	g := spmVocab(t, []string{"a", "aa", strings.Repeat("a", 4<<20)})
	done := make(chan error, 1)
	go func() { _, err := fromGGUF(g); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("building merges for a 4 MB piece did not finish in 60 s")
	}
}

func BenchmarkScoreMerges(b *testing.B) {
	g := spmVocab(b, []string{"a", "aa", strings.Repeat("a", 320<<10)})
	for b.Loop() {
		if _, err := fromGGUF(g); err != nil {
			b.Fatal(err)
		}
	}
}
