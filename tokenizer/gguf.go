package tokenizer

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/fovea-ml/fovea/internal/gguf"
)

// GGUF metadata keys of the tokenizer.
const (
	ggufModel        = "tokenizer.ggml.model"
	ggufPre          = "tokenizer.ggml.pre"
	ggufTokens       = "tokenizer.ggml.tokens"
	ggufScores       = "tokenizer.ggml.scores"
	ggufTypes        = "tokenizer.ggml.token_type"
	ggufMerges       = "tokenizer.ggml.merges"
	ggufBOS          = "tokenizer.ggml.bos_token_id"
	ggufEOS          = "tokenizer.ggml.eos_token_id"
	ggufUNK          = "tokenizer.ggml.unknown_token_id"
	ggufAddBOS       = "tokenizer.ggml.add_bos_token"
	ggufAddEOS       = "tokenizer.ggml.add_eos_token"
	ggufAddPrefix    = "tokenizer.ggml.add_space_prefix"
	ggufChatTemplate = "tokenizer.chat_template"
)

// LoadGGUF reads the tokenizer stored in a GGUF file's metadata.
func LoadGGUF(path string) (*Tokenizer, error) {
	g, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t, err := fromGGUF(g)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	t.chatTemplate, _ = chatTemplateFromGGUF(g)
	return t, nil
}

// fromGGUF builds a tokenizer from parsed GGUF metadata. Supported
// tokenizer.ggml.model values: "gpt2" (byte-level BPE with merges) and
// "llama" (SentencePiece BPE ranked by scores, with byte fallback).
func fromGGUF(g *gguf.File) (*Tokenizer, error) {
	model, err := g.String(ggufModel)
	if err != nil {
		return nil, err
	}
	tokens, err := g.Strings(ggufTokens)
	if err != nil {
		return nil, err
	}
	t := &Tokenizer{vocab: tokens, bos: noToken, eos: noToken, unk: noToken}
	t.types = make([]TokenType, len(tokens))
	if raw, err := g.Ints(ggufTypes); err == nil {
		if len(raw) != len(tokens) {
			return nil, fmt.Errorf("%s has %d entries for %d tokens", ggufTypes, len(raw), len(tokens))
		}
		for i, v := range raw {
			t.types[i] = TokenType(v)
		}
	} else if !errors.Is(err, gguf.ErrNotFound) {
		return nil, err
	} else {
		for i := range t.types {
			t.types[i] = TypeNormal
		}
	}
	for key, dst := range map[string]*int{ggufBOS: &t.bos, ggufEOS: &t.eos, ggufUNK: &t.unk} {
		v, err := g.Uint(key)
		if errors.Is(err, gguf.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if v >= uint64(len(tokens)) {
			return nil, fmt.Errorf("%s = %d is outside the vocabulary of %d", key, v, len(tokens))
		}
		*dst = int(v)
	}
	optBool := func(key string, def bool) (bool, error) {
		v, err := g.Bool(key)
		if errors.Is(err, gguf.ErrNotFound) {
			return def, nil
		}
		return v, err
	}
	switch model {
	case "gpt2":
		t.kind = ByteLevel
		pre, _ := g.String(ggufPre)
		if t.pre, err = newPreTokenizerByName(pre); err != nil {
			return nil, err
		}
		t.ignoreMerges = pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" || pre == "falcon3"
		merges, err := g.Strings(ggufMerges)
		if err != nil {
			return nil, err
		}
		if t.merges, err = mergesFromStrings(merges, t.vocabIndex()); err != nil {
			return nil, err
		}
		if t.addBOS, err = optBool(ggufAddBOS, false); err != nil {
			return nil, err
		}
	case "llama":
		t.kind = SentencePiece
		t.byteFallback, t.spaceToMeta = true, true
		scores, err := g.Float32s(ggufScores)
		if err != nil {
			return nil, err
		}
		if len(scores) != len(tokens) {
			return nil, fmt.Errorf("%s has %d entries for %d tokens", ggufScores, len(scores), len(tokens))
		}
		t.merges = mergesFromScores(tokens, scores, t.types, t.vocabIndex())
		if t.addPrefixSpace, err = optBool(ggufAddPrefix, true); err != nil {
			return nil, err
		}
		if t.addBOS, err = optBool(ggufAddBOS, true); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unsupported %s %q (want gpt2 or llama)", ggufModel, model)
	}
	if t.addEOS, err = optBool(ggufAddEOS, false); err != nil {
		return nil, err
	}
	for id, ty := range t.types {
		if ty == TypeControl || ty == TypeUserDefined {
			if tokens[id] == "" {
				continue
			}
			t.added = append(t.added, AddedToken{ID: id, Content: tokens[id], Special: ty == TypeControl})
		}
	}
	if err := t.finish(); err != nil {
		return nil, err
	}
	if err := t.checkByteTokens(); err != nil {
		return nil, fmt.Errorf("%s %q: %w", ggufModel, model, err)
	}
	return t, nil
}

func (t *Tokenizer) vocabIndex() map[string]int32 {
	if t.ids == nil {
		t.ids = make(map[string]int32, len(t.vocab))
		for i, s := range t.vocab {
			if _, dup := t.ids[s]; !dup {
				t.ids[s] = int32(i)
			}
		}
	}
	return t.ids
}

// mergesFromStrings builds the merge table from "left right" lines; the
// line index is the rank.
func mergesFromStrings(lines []string, ids map[string]int32) (mergeTable, error) {
	if len(lines) >= math.MaxInt32 {
		return nil, fmt.Errorf("%d merges is too many", len(lines))
	}
	m := make(mergeTable, len(lines))
	for rank, line := range lines {
		a, b, ok := strings.Cut(line, " ")
		if !ok {
			return nil, fmt.Errorf("merge %d %q is not two tokens separated by a space", rank, line)
		}
		if err := m.add(rank, a, b, ids); err != nil {
			return nil, fmt.Errorf("merge %d: %w", rank, err)
		}
	}
	return m, nil
}

func (m mergeTable) add(rank int, a, b string, ids map[string]int32) error {
	ia, ok1 := ids[a]
	ib, ok2 := ids[b]
	ic, ok3 := ids[a+b]
	if !ok1 || !ok2 || !ok3 {
		return fmt.Errorf("merge %q + %q uses a token missing from the vocabulary", a, b)
	}
	k := pairKey(ia, ib)
	if _, dup := m[k]; !dup { // the first (lowest) rank wins, as in HF
		m[k] = packMerge(int32(rank), ic)
	}
	return nil
}

// mergesFromScores derives SentencePiece merges from piece scores: every
// split of a normal piece into two vocabulary pieces is a merge producing
// it, ranked by the piece's score (higher first; equal scores share a rank
// so the leftmost pair wins, as in SentencePiece and llama.cpp).
func mergesFromScores(tokens []string, scores []float32, types []TokenType, ids map[string]int32) mergeTable {
	uniq := append([]float32(nil), scores...)
	sort.Slice(uniq, func(i, j int) bool { return uniq[i] > uniq[j] })
	rankOf := make(map[float32]int32, len(uniq))
	for _, s := range uniq {
		if _, ok := rankOf[s]; !ok {
			rankOf[s] = int32(len(rankOf))
		}
	}
	m := make(mergeTable)
	h := newSubstringHasher(ids)
	for id, tok := range tokens {
		if types[id] != TypeNormal && types[id] != TypeUserDefined && types[id] != TypeUndefined {
			continue
		}
		h.prepare(tok)
		for i := 1; i < len(tok); i++ {
			if !utf8RuneStart(tok[i]) {
				continue
			}
			ia, ok1 := h.lookup(0, i)
			if !ok1 {
				continue
			}
			ib, ok2 := h.lookup(i, len(tok))
			if !ok2 {
				continue
			}
			m[pairKey(ia, ib)] = packMerge(rankOf[scores[id]], int32(id))
		}
	}
	return m
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// chatTemplateFromGGUF returns the Jinja chat template stored in a GGUF, if any.
func chatTemplateFromGGUF(g *gguf.File) (string, bool) {
	s, err := g.String(ggufChatTemplate)
	return s, err == nil
}
