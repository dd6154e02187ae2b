package tokenizer

import (
	"fmt"

	"golang.org/x/text/unicode/norm"
)

// MaxNormalizerGrowth bounds how many times longer (in bytes) the
// normalizer chain of a tokenizer.json may make a text, computed from the
// chain when it is loaded. Published tokenizers stay far below it
// (Llama-2's Prepend("▁") + Replace(" " → "▁") grows text at most 3× plus
// the prefix); 16 chained Replace("a" → "aaaa") would grow "a" to 4 GiB.
const MaxNormalizerGrowth = 1024

// Per-normalizer worst-case byte growth factors for the Unicode forms: one
// UTF-8 character decomposes to at most this many bytes per input byte
// (U+FDFA, 3 bytes, becomes 18 characters under NFKD).
const (
	growthCanonical     = 3  // NFC, NFD
	growthCompatibility = 18 // NFKC, NFKD
	growthLowercase     = 3  // İ (2 bytes) → "i̇" (3 bytes); never more per byte
)

// grower is implemented by normalizers that can make a text longer: the
// factor bounds len(out) / max(len(in), 1) (a prefix counts as a factor of
// 1 + len(prefix)).
type grower interface{ growth() int }

func (u unicodeForm) growth() int {
	if u.form == norm.NFKC || u.form == norm.NFKD {
		return growthCompatibility
	}
	return growthCanonical
}
func (lowercase) growth() int { return growthLowercase }
func (p replaceString) growth() int {
	return max(1, (len(p.content)+len(p.old)-1)/len(p.old))
}

// A regex match is at least one byte, or empty (then content is inserted
// between every two bytes).
func (p replaceRegex) growth() int { return len(p.content) + 1 }
func (p prepend) growth() int      { return 1 + len(p.prefix) }
func (q normSequence) growth() int {
	g := 1
	for _, n := range q {
		g = mulGrowth(g, normGrowth(n))
	}
	return g
}

// mulGrowth multiplies two factors, saturating above MaxNormalizerGrowth.
func mulGrowth(a, b int) int {
	if a > MaxNormalizerGrowth || b > MaxNormalizerGrowth || a*b > MaxNormalizerGrowth {
		return MaxNormalizerGrowth + 1
	}
	return a * b
}

// normGrowth is n's growth factor (1 for normalizers that only shrink).
func normGrowth(n normalizer) int {
	if g, ok := n.(grower); ok {
		return g.growth()
	}
	return 1
}

// checkNormalizerGrowth refuses a chain that can grow text past
// MaxNormalizerGrowth.
func checkNormalizerGrowth(n normalizer) error {
	if n == nil {
		return nil
	}
	if g := normGrowth(n); g > MaxNormalizerGrowth {
		return fmt.Errorf("normalizer: the chain can grow a text more than %d× (MaxNormalizerGrowth): refusing a normalizer bomb", MaxNormalizerGrowth)
	}
	return nil
}

// checkAddedToken refuses an added token that contradicts the vocabulary
// built so far: its id already holds other content (in model.vocab or an
// earlier added token), or its content already has another id. Either
// breaks the round trip (encode "ju" → 300 → decode "<evil>"). The same
// token repeated with the same id is accepted.
func checkAddedToken(t *Tokenizer, addedAt map[int]string, id int, content string) error {
	if prev, ok := addedAt[id]; ok && prev != content {
		return fmt.Errorf("added tokens %q and %q both have id %d", prev, content, id)
	}
	if v := t.vocab[id]; v != "" && v != content {
		return fmt.Errorf("added token %q has id %d, which model.vocab gives to %q", content, id, v)
	}
	if other, ok := t.ids[content]; ok && int(other) != id {
		return fmt.Errorf("added token %q has id %d, but it already has id %d", content, id, other)
	}
	return nil
}

// checkByteTokens refuses a vocabulary that lacks some of the 256 byte
// tokens its kind needs (byte-level BPE's alphabet, SentencePiece's
// <0xXX> fallback pieces): bytes without a token would be dropped from
// the encoding without an error ("héllo\x00\xff" → nothing).
func (t *Tokenizer) checkByteTokens() error {
	missing, first := 0, -1
	for b, id := range t.byteIDs {
		if id == noToken {
			if first < 0 {
				first = b
			}
			missing++
		}
	}
	if missing > 0 {
		return fmt.Errorf("the vocabulary lacks %d of the 256 byte tokens (first: byte 0x%02X), which a %s tokenizer needs", missing, first, t.kind)
	}
	return nil
}
