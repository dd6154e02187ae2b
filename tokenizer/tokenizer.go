package tokenizer

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

// Family is the vocabulary family.
type Family int

const (
	// ByteLevel is GPT-2 style BPE over bytes mapped to printable characters
	// (GPT-2, Llama-3, Qwen2, DeepSeek, StarCoder...).
	ByteLevel Family = iota
	// SentencePiece is BPE over characters with '▁' for spaces and
	// <0xNN> byte fallback (Llama-2, Vicuna, LLaVA-1.5).
	SentencePiece
)

func (k Family) String() string {
	if k == SentencePiece {
		return "sentencepiece"
	}
	return "byte-level"
}

// metaspace is SentencePiece's visible space, U+2581.
const metaspace = "▁"

// noToken marks an absent special id.
const noToken = -1

// maxCacheEntries bounds the per-tokenizer word cache; it is cleared when full.
const maxCacheEntries = 1 << 16

// TokenType mirrors GGUF tokenizer.ggml.token_type.
type TokenType int32

// Token types (llama.cpp's LLAMA_TOKEN_TYPE_*).
const (
	TypeUndefined   TokenType = 0
	TypeNormal      TokenType = 1
	TypeUnknown     TokenType = 2
	TypeControl     TokenType = 3
	TypeUserDefined TokenType = 4
	TypeUnused      TokenType = 5
	TypeByte        TokenType = 6
)

// AddedToken is a token split out of the text before BPE (HF added_tokens,
// GGUF control and user-defined tokens).
type AddedToken struct {
	ID      int
	Content string
	Special bool // control token: split only when ParseSpecial is on
	LStrip  bool // absorb whitespace on its left
	RStrip  bool // absorb whitespace on its right
	// Normalized tokens are matched in the normalized text of each segment
	// (their content normalized the same way); the others in the raw text.
	Normalized bool

	match string // what is searched for: Content, normalized when Normalized
}

// Tokenizer encodes text to token ids and back. It is safe for concurrent use.
type Tokenizer struct {
	kind   Family
	vocab  []string // id -> token text as stored in the vocabulary
	types  []TokenType
	ids    map[string]int32
	merges mergeTable
	pre    *preTokenizer
	bytes  *byteLevelAlphabet // ByteLevel only

	byteIDs [256]int32 // ByteLevel: id of each byte's character; SentencePiece: id of <0xNN> (or -1)

	added      []AddedToken // longest content first
	addedFirst [256]bool    // first bytes of added-token contents
	addedByID  map[int]int  // id -> index in added

	bos, eos, unk  int
	addBOS, addEOS bool

	chatTemplate string // Jinja chat template stored with the vocabulary ("" when none)

	addPrefixSpace    bool // SentencePiece: prepend '▁' to each text segment; ByteLevel: prepend ' '
	ignoreMerges      bool // a pre-token that is itself a token is emitted whole (Llama-3)
	byteFallback      bool
	spaceToMeta       bool // SentencePiece: replace ' ' with '▁'
	metaSplit         bool // SentencePiece: split into words before each '▁' (HF Metaspace split=true)
	prefixFirstOnly   bool // prefix space only on the first segment (HF prepend_scheme "first")
	prefixUnlessSpace bool // HF Metaspace: no prefix when the segment already starts with a space

	norm       normalizer // applied to each segment between added tokens; nil: none
	normPrefix bool       // norm prepends '▁' (Decode drops the segment's leading space)
	normMeta   bool       // norm replaces ' ' with '▁' (Decode turns '▁' back into ' ')
	normAdded  bool       // some added token is matched in normalized text

	cacheMu sync.RWMutex
	cache   map[string][]int32
}

// EncodeOption changes one Encode call.
type EncodeOption func(*encodeConfig)

type encodeConfig struct {
	addSpecial   bool
	parseSpecial bool
}

// WithAddSpecial sets whether BOS/EOS are added as the vocabulary's
// configuration says (default true).
func WithAddSpecial(on bool) EncodeOption { return func(c *encodeConfig) { c.addSpecial = on } }

// WithParseSpecial sets whether special-token text in the input (e.g.
// "<|endoftext|>") becomes the special token (default true, as HF does) or
// is encoded as plain text. Non-special added tokens are always split out.
func WithParseSpecial(on bool) EncodeOption { return func(c *encodeConfig) { c.parseSpecial = on } }

// Family reports the vocabulary family.
func (t *Tokenizer) Family() Family { return t.kind }

// VocabSize is the number of ids (the embedding table's V).
func (t *Tokenizer) VocabSize() int { return len(t.vocab) }

// BOS returns the beginning-of-sequence id, or -1.
func (t *Tokenizer) BOS() int { return t.bos }

// EOS returns the end-of-sequence id, or -1.
func (t *Tokenizer) EOS() int { return t.eos }

// AddsBOS reports whether Encode prepends BOS by default.
func (t *Tokenizer) AddsBOS() bool { return t.addBOS }

// TokenID looks up a token by its vocabulary text (e.g. "<|image|>", "Ġthe").
func (t *Tokenizer) TokenID(s string) (int, bool) {
	id, ok := t.ids[s]
	return int(id), ok
}

// Token returns the vocabulary text of id.
func (t *Tokenizer) Token(id int) (string, bool) {
	if id < 0 || id >= len(t.vocab) {
		return "", false
	}
	return t.vocab[id], true
}

// AddedTokens lists the tokens split out before BPE.
func (t *Tokenizer) AddedTokens() []AddedToken { return append([]AddedToken(nil), t.added...) }

// finish builds derived lookup tables once vocab, types, merges and added
// tokens are set. Loaders call it last.
func (t *Tokenizer) finish() error {
	if len(t.vocab) == 0 {
		return fmt.Errorf("tokenizer: empty vocabulary")
	}
	if t.ids == nil {
		t.ids = make(map[string]int32, len(t.vocab))
		for i, s := range t.vocab {
			if _, dup := t.ids[s]; !dup {
				t.ids[s] = int32(i)
			}
		}
	}
	for b := range t.byteIDs {
		t.byteIDs[b] = noToken
	}
	switch t.kind {
	case ByteLevel:
		t.bytes = newByteLevelAlphabet()
		for b := range t.byteIDs {
			if id, ok := t.ids[string(t.bytes.toRune[b])]; ok {
				t.byteIDs[b] = id
			}
		}
	case SentencePiece:
		for b := range t.byteIDs {
			if id, ok := t.ids[fmt.Sprintf("<0x%02X>", b)]; ok {
				t.byteIDs[b] = id
			}
		}
	}
	t.normAdded = false
	for i := range t.added {
		a := &t.added[i]
		a.match = a.Content
		if a.Normalized && t.norm != nil {
			a.match = t.norm.normalize(a.Content)
		}
		t.normAdded = t.normAdded || a.Normalized
	}
	sort.SliceStable(t.added, func(i, j int) bool { return len(t.added[i].match) > len(t.added[j].match) })
	t.addedByID = make(map[int]int, len(t.added))
	for i, a := range t.added {
		if a.ID < 0 || a.ID >= len(t.vocab) {
			return fmt.Errorf("tokenizer: added token %q has id %d outside the vocabulary of %d", a.Content, a.ID, len(t.vocab))
		}
		if a.Content == "" {
			return fmt.Errorf("tokenizer: added token %d has empty content", a.ID)
		}
		if a.match != "" { // a token that normalizes to nothing is never matched
			t.addedFirst[a.match[0]] = true
		}
		t.addedByID[a.ID] = i
	}
	for _, id := range []int{t.bos, t.eos, t.unk} {
		if id >= len(t.vocab) {
			return fmt.Errorf("tokenizer: special id %d outside the vocabulary of %d", id, len(t.vocab))
		}
	}
	if t.addBOS && t.bos < 0 {
		return fmt.Errorf("tokenizer: configured to add BOS but has no BOS token")
	}
	if t.addEOS && t.eos < 0 {
		return fmt.Errorf("tokenizer: configured to add EOS but has no EOS token")
	}
	t.cache = make(map[string][]int32)
	return nil
}

// Encode turns text into token ids: added/special tokens are split out,
// each remaining segment is normalized, pre-tokenized and BPE-merged, and
// BOS/EOS are added per the vocabulary's configuration.
func (t *Tokenizer) Encode(text string, opts ...EncodeOption) []int {
	cfg := encodeConfig{addSpecial: true, parseSpecial: true}
	for _, o := range opts {
		o(&cfg)
	}
	ids := make([]int, 0, len(text)/3+2)
	if cfg.addSpecial && t.addBOS {
		ids = append(ids, t.bos)
	}
	st := segmentState{first: true}
	rest := text
	for len(rest) > 0 {
		start, end, at := t.nextAdded(rest, cfg.parseSpecial, false)
		if at < 0 {
			ids = t.encodeRaw(rest, ids, &st, cfg.parseSpecial)
			break
		}
		ids = t.encodeRaw(rest[:start], ids, &st, cfg.parseSpecial)
		ids = append(ids, t.added[at].ID)
		rest = rest[end:]
		// Text after an added token no longer starts the input: HF's
		// prepend_scheme "first" prefixes only the split at offset 0.
		st.first = false
	}
	if cfg.addSpecial && t.addEOS {
		ids = append(ids, t.eos)
	}
	return ids
}

// encodeRaw encodes raw text between non-normalized added tokens, as HF's
// AddedVocabulary does: the text is normalized, normalized added tokens are
// split out of the normalized text, and the pieces between them are
// pre-tokenized and merged.
func (t *Tokenizer) encodeRaw(seg string, ids []int, st *segmentState, parseSpecial bool) []int {
	if seg == "" {
		return ids
	}
	if t.norm != nil {
		seg = t.norm.normalize(seg)
	}
	for t.normAdded && len(seg) > 0 {
		start, end, at := t.nextAdded(seg, parseSpecial, true)
		if at < 0 {
			break
		}
		ids = t.encodeSegment(seg[:start], ids, st)
		ids = append(ids, t.added[at].ID)
		seg = seg[end:]
	}
	return t.encodeSegment(seg, ids, st)
}

// nextAdded finds the leftmost (then longest) added token in s among those
// matched in normalized text (normalized=true) or in raw text (false). It
// returns the byte span to cut (including whitespace absorbed by
// lstrip/rstrip) and the index into t.added, or at=-1.
func (t *Tokenizer) nextAdded(s string, parseSpecial, normalized bool) (start, end, at int) {
	if len(t.added) == 0 {
		return 0, 0, -1
	}
	for i := 0; i < len(s); i++ {
		if !t.addedFirst[s[i]] {
			continue
		}
		for k := range t.added {
			a := &t.added[k]
			if (a.Special && !parseSpecial) || a.Normalized != normalized || a.match == "" {
				continue
			}
			if strings.HasPrefix(s[i:], a.match) {
				start, end = i, i+len(a.match)
				if a.LStrip {
					start = len(strings.TrimRight(s[:start], spaceChars))
				}
				if a.RStrip {
					end = len(s) - len(strings.TrimLeft(s[end:], spaceChars))
				}
				return start, end, k
			}
		}
	}
	return 0, 0, -1
}

// spaceChars is the whitespace lstrip/rstrip absorb.
const spaceChars = " \t\n\r\v\f"

// segmentState is scratch space reused across the segments of one Encode.
type segmentState struct {
	first bool // no text segment encoded yet
	words []string
	syms  []int32
}

// encodeSegment pre-tokenizes and merges normalized text that contains no
// added tokens.
func (t *Tokenizer) encodeSegment(seg string, ids []int, st *segmentState) []int {
	if seg == "" {
		return ids
	}
	first := st.first
	st.first = false
	emit := func(w string) { ids, st.syms = t.encodeWord(w, ids, st.syms) }
	switch t.kind {
	case SentencePiece:
		// HF Metaspace prepends '▁' only when the segment does not already
		// start with one (a leading space); llama.cpp's SPM always does.
		if t.addPrefixSpace && (first || !t.prefixFirstOnly) &&
			!(t.prefixUnlessSpace && (strings.HasPrefix(seg, " ") || strings.HasPrefix(seg, metaspace))) {
			seg = " " + seg
		}
		if t.spaceToMeta {
			seg = strings.ReplaceAll(seg, " ", metaspace)
		}
		if t.metaSplit {
			st.words = splitBeforeMeta(seg, st.words[:0])
			for _, w := range st.words {
				emit(w)
			}
		} else {
			emit(seg)
		}
	case ByteLevel:
		if t.addPrefixSpace && !strings.HasPrefix(seg, " ") {
			seg = " " + seg
		}
		if t.pre != nil {
			st.words = t.pre.each(seg, st.words, emit)
		} else {
			emit(seg)
		}
	}
	return ids
}

// splitBeforeMeta cuts s before every '▁' (Metaspace split=true).
func splitBeforeMeta(s string, out []string) []string {
	last := 0
	for i := 1; i < len(s); i++ {
		if strings.HasPrefix(s[i:], metaspace) {
			out = append(out, s[last:i])
			last = i
		}
	}
	return append(out, s[last:])
}

// encodeWord BPE-encodes one pre-token, using the word cache.
func (t *Tokenizer) encodeWord(w string, ids []int, syms []int32) ([]int, []int32) {
	t.cacheMu.RLock()
	cached, ok := t.cache[w]
	t.cacheMu.RUnlock()
	if ok {
		for _, id := range cached {
			ids = append(ids, int(id))
		}
		return ids, syms
	}
	syms = t.wordSymbols(w, syms[:0])
	if !(t.ignoreMerges && len(syms) == 1) {
		syms = t.merges.merge(syms)
	}
	for _, id := range syms {
		ids = append(ids, int(id))
	}
	if len(w) <= maxCachedWordBytes {
		t.cacheMu.Lock()
		if len(t.cache) >= maxCacheEntries {
			clear(t.cache)
		}
		t.cache[w] = append([]int32(nil), syms...)
		t.cacheMu.Unlock()
	}
	return ids, syms
}

// maxCachedWordBytes keeps very long pre-tokens (whitespace runs, whole
// SentencePiece prompts) out of the cache.
const maxCachedWordBytes = 64

// wordSymbols returns the initial symbols of a pre-token: one per byte
// (ByteLevel) or one per character with byte fallback (SentencePiece). With
// ignoreMerges a pre-token that is itself a token is a single symbol.
func (t *Tokenizer) wordSymbols(w string, syms []int32) []int32 {
	switch t.kind {
	case ByteLevel:
		if t.ignoreMerges {
			if id, ok := t.ids[t.bytes.encode(w)]; ok {
				return append(syms, id)
			}
		}
		for i := 0; i < len(w); i++ {
			if id := t.byteIDs[w[i]]; id >= 0 {
				syms = append(syms, id)
			} else if t.unk >= 0 {
				syms = append(syms, int32(t.unk))
			}
		}
	case SentencePiece:
		if t.ignoreMerges {
			if id, ok := t.ids[w]; ok {
				return append(syms, id)
			}
		}
		for i := 0; i < len(w); {
			_, n := utf8.DecodeRuneInString(w[i:])
			if id, ok := t.ids[w[i:i+n]]; ok && t.types[id] != TypeControl && t.types[id] != TypeByte {
				syms = append(syms, id)
			} else if t.byteFallback {
				for k := i; k < i+n; k++ {
					if id := t.byteIDs[w[k]]; id >= 0 {
						syms = append(syms, id)
					} else if t.unk >= 0 {
						syms = append(syms, int32(t.unk))
					}
				}
			} else if t.unk >= 0 {
				if k := len(syms); k == 0 || syms[k-1] != int32(t.unk) {
					syms = append(syms, int32(t.unk)) // consecutive unknowns fuse
				}
			}
			i += n
		}
	}
	return syms
}

// Decode turns ids back into text: the inverse of Encode for text without
// added tokens. Byte-level vocabularies reproduce the original bytes (also
// invalid UTF-8); SentencePiece turns '▁' back into spaces, <0xNN> tokens
// into bytes, and drops the space Encode prefixed to each segment. Added and
// special tokens decode to their content. An id outside the vocabulary is an
// error.
func (t *Tokenizer) Decode(ids []int) (string, error) {
	buf := make([]byte, 0, 4*len(ids))
	st := newDecodeState()
	for pos, id := range ids {
		var err error
		if buf, err = t.appendToken(buf, id, &st, false); err != nil {
			return "", fmt.Errorf("%w at position %d", err, pos)
		}
	}
	return string(buf), nil
}

// decodeState is what decoding one id needs to know of the ids before it.
type decodeState struct {
	segStart bool // at the start of a text segment (SentencePiece prefix space)
	firstSeg bool
}

func newDecodeState() decodeState { return decodeState{segStart: true, firstSeg: true} }

// appendToken appends the bytes of id to buf, advancing st. skipSpecial
// drops special added tokens (their position still starts a segment).
func (t *Tokenizer) appendToken(buf []byte, id int, st *decodeState, skipSpecial bool) ([]byte, error) {
	if id < 0 || id >= len(t.vocab) {
		return buf, fmt.Errorf("tokenizer: id %d is outside the vocabulary of %d", id, len(t.vocab))
	}
	if k, ok := t.addedByID[id]; ok {
		if !skipSpecial || !t.added[k].Special {
			buf = append(buf, t.added[k].Content...)
		}
		st.segStart = true
		return buf, nil
	}
	tok := t.vocab[id]
	switch t.kind {
	case ByteLevel:
		buf = t.bytes.decode(buf, tok)
	case SentencePiece:
		if t.types[id] == TypeByte {
			if b, ok := parseByteToken(tok); ok {
				st.segStart = false
				return append(buf, b), nil
			}
		}
		if t.types[id] == TypeControl {
			if !skipSpecial {
				buf = append(buf, tok...)
			}
			st.segStart = true
			return buf, nil
		}
		if t.spaceToMeta || t.normMeta {
			tok = strings.ReplaceAll(tok, metaspace, " ")
		}
		if st.segStart && (t.normPrefix || t.addPrefixSpace && (st.firstSeg || !t.prefixFirstOnly)) {
			tok = strings.TrimPrefix(tok, " ")
		}
		st.firstSeg = false
		buf = append(buf, tok...)
	}
	st.segStart = false
	return buf, nil
}

// byteTokenLen is len("<0xNN>").
const byteTokenLen = 6

// parseByteToken reads a SentencePiece byte token "<0xNN>".
func parseByteToken(s string) (byte, bool) {
	if len(s) != byteTokenLen || !strings.HasPrefix(s, "<0x") || s[5] != '>' {
		return 0, false
	}
	var b byte
	for _, c := range []byte(s[3:5]) {
		switch {
		case '0' <= c && c <= '9':
			b = b<<4 | (c - '0')
		case 'A' <= c && c <= 'F':
			b = b<<4 | (c - 'A' + 10)
		case 'a' <= c && c <= 'f':
			b = b<<4 | (c - 'a' + 10)
		default:
			return 0, false
		}
	}
	return b, true
}
