package tokenizer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// TrainConfig configures byte-level BPE training.
type TrainConfig struct {
	// VocabSize is the final number of ids: special tokens + 256 byte
	// characters + merges. Training stops early when no pair occurs
	// MinFrequency times.
	VocabSize int `json:"vocab_size"`
	// SpecialTokens get the first ids, in order, and are split out of text.
	SpecialTokens []string `json:"special_tokens"`
	// MinFrequency is the least count a pair needs to be merged (>= 1).
	MinFrequency int `json:"min_frequency"`
}

// byteAlphabetSize is the number of initial byte-level symbols.
const byteAlphabetSize = 256

// Validate checks the configuration.
func (c TrainConfig) Validate() error {
	if c.VocabSize < len(c.SpecialTokens)+byteAlphabetSize {
		return fmt.Errorf("tokenizer: vocab_size %d is below the %d special + %d byte tokens", c.VocabSize, len(c.SpecialTokens), byteAlphabetSize)
	}
	if c.MinFrequency < 1 {
		return fmt.Errorf("tokenizer: min_frequency %d must be at least 1", c.MinFrequency)
	}
	seen := map[string]bool{}
	for _, s := range c.SpecialTokens {
		if s == "" || seen[s] {
			return fmt.Errorf("tokenizer: special token %q is empty or repeated", s)
		}
		seen[s] = true
	}
	return nil
}

// Train learns a GPT-2-style byte-level BPE vocabulary from corpus (each
// string a document): GPT-2 pre-tokenization, then repeatedly merging the
// most frequent adjacent pair (ties broken by the smaller token texts) until
// VocabSize is reached. The first special token, if any, is BOS and EOS;
// Encode adds neither by default.
func Train(ctx context.Context, corpus []string, cfg TrainConfig) (*Tokenizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Tokenizer{kind: ByteLevel, bos: noToken, eos: noToken, unk: noToken,
		pre: &preTokenizer{stages: []splitter{gpt2Splitter{}}}, merges: make(mergeTable)}
	for i, s := range cfg.SpecialTokens {
		t.vocab = append(t.vocab, s)
		t.types = append(t.types, TypeControl)
		t.added = append(t.added, AddedToken{ID: i, Content: s, Special: true})
	}
	alpha := newByteLevelAlphabet()
	byteIDs := make([]int32, byteAlphabetSize)
	order := make([]int, byteAlphabetSize)
	for b := range order {
		order[b] = b
	}
	sort.Slice(order, func(i, j int) bool { return alpha.toRune[order[i]] < alpha.toRune[order[j]] })
	for _, b := range order {
		byteIDs[b] = int32(len(t.vocab))
		t.vocab = append(t.vocab, string(alpha.toRune[b]))
		t.types = append(t.types, TypeNormal)
	}
	if len(cfg.SpecialTokens) > 0 {
		t.bos, t.eos = 0, 0
	}
	if err := t.finish(); err != nil { // for splitting specials out of the corpus
		return nil, err
	}
	// Word counts.
	counts := map[string]int{}
	for _, doc := range corpus {
		rest := doc
		for len(rest) > 0 {
			start, end, at := t.nextAdded(rest, true, false)
			seg := rest
			if at >= 0 {
				seg = rest[:start]
			}
			t.pre.each(seg, nil, func(w string) { counts[w]++ })
			if at < 0 {
				break
			}
			rest = rest[end:]
		}
	}
	type word struct {
		syms  []int32
		count int
	}
	words := make([]word, 0, len(counts))
	for w, c := range counts {
		ws := make([]int32, len(w))
		for i := 0; i < len(w); i++ {
			ws[i] = byteIDs[w[i]]
		}
		words = append(words, word{ws, c})
	}
	for rank := 0; len(t.vocab) < cfg.VocabSize; rank++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		pairs := map[uint64]int{}
		for _, w := range words {
			for i := 0; i+1 < len(w.syms); i++ {
				pairs[pairKey(w.syms[i], w.syms[i+1])] += w.count
			}
		}
		var best uint64
		bestN := 0
		for k, n := range pairs {
			if n > bestN || (n == bestN && t.pairLess(k, best)) {
				best, bestN = k, n
			}
		}
		if bestN < cfg.MinFrequency {
			break
		}
		a, b := int32(best>>32), int32(uint32(best))
		id := int32(len(t.vocab))
		t.vocab = append(t.vocab, t.vocab[a]+t.vocab[b])
		t.types = append(t.types, TypeNormal)
		t.merges[best] = packMerge(int32(rank), id)
		for wi := range words {
			s := words[wi].syms
			out := s[:0]
			for i := 0; i < len(s); i++ {
				if i+1 < len(s) && s[i] == a && s[i+1] == b {
					out = append(out, id)
					i++
				} else {
					out = append(out, s[i])
				}
			}
			words[wi].syms = out
		}
	}
	t.ids = nil
	if err := t.finish(); err != nil {
		return nil, err
	}
	return t, nil
}

// pairLess orders pairs by their token texts, for deterministic ties.
func (t *Tokenizer) pairLess(x, y uint64) bool {
	xa, xb := t.vocab[int32(x>>32)], t.vocab[int32(uint32(x))]
	ya, yb := t.vocab[int32(y>>32)], t.vocab[int32(uint32(y))]
	if xa != ya {
		return xa < ya
	}
	return xb < yb
}

// WriteJSON writes a byte-level tokenizer with the GPT-2 pre-tokenizer (as
// Train makes) in HF tokenizer.json form, which Load and HF
// PreTrainedTokenizerFast read.
func (t *Tokenizer) WriteJSON(w io.Writer) error {
	if t.kind != ByteLevel || t.pre == nil || len(t.pre.stages) != 1 {
		return fmt.Errorf("tokenizer: WriteJSON supports byte-level tokenizers with the GPT-2 pre-tokenizer only")
	}
	if _, ok := t.pre.stages[0].(gpt2Splitter); !ok || t.addPrefixSpace || t.ignoreMerges {
		return fmt.Errorf("tokenizer: WriteJSON supports byte-level tokenizers with the GPT-2 pre-tokenizer only")
	}
	type merge struct {
		rank int32
		text string
	}
	ms := make([]merge, 0, len(t.merges))
	for k, v := range t.merges {
		rank, _ := unpackMerge(v)
		ms = append(ms, merge{rank, t.vocab[int32(k>>32)] + " " + t.vocab[int32(uint32(k))]})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].rank < ms[j].rank })
	merges := make([]string, len(ms))
	for i, m := range ms {
		merges[i] = m.text
	}
	vocab := make(map[string]int, len(t.vocab))
	for id, s := range t.vocab {
		if _, added := t.addedByID[id]; !added && s != "" {
			vocab[s] = id
		}
	}
	added := make([]hfAddedToken, 0, len(t.added))
	for _, a := range t.added {
		normalized := a.Normalized
		added = append(added, hfAddedToken{ID: a.ID, Content: a.Content, LStrip: a.LStrip, RStrip: a.RStrip,
			Special: a.Special, Normalized: &normalized})
		vocab[a.Content] = a.ID
	}
	sort.Slice(added, func(i, j int) bool { return added[i].ID < added[j].ID })
	byteLevel := map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}
	doc := map[string]any{
		"version":        "1.0",
		"truncation":     nil,
		"padding":        nil,
		"added_tokens":   added,
		"normalizer":     nil,
		"pre_tokenizer":  byteLevel,
		"post_processor": byteLevel,
		"decoder":        byteLevel,
		"model": map[string]any{
			"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": nil,
			"end_of_word_suffix": nil, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
			"vocab": vocab, "merges": merges,
		},
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	return enc.Encode(doc)
}

// SaveJSON writes WriteJSON's output to path.
func (t *Tokenizer) SaveJSON(path string) error {
	var b strings.Builder
	if err := t.WriteJSON(&b); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
