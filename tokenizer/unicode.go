package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// charClass is how the pre-tokenizer patterns see one character: \p{L},
// \p{N}, \s (Unicode White_Space, as Oniguruma and Rust see it) or anything
// else. Bytes that are not valid UTF-8 count as "other".
type charClass uint8

const (
	classOther charClass = iota
	classLetter
	classNumber
	classSpace
)

// classify returns the class of r. ASCII is decided without table lookups.
func classify(r rune) charClass {
	if r < utf8.RuneSelf {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
			return classLetter
		case '0' <= r && r <= '9':
			return classNumber
		case r == ' ', '\t' <= r && r <= '\r':
			return classSpace
		}
		return classOther
	}
	switch {
	case unicode.IsLetter(r):
		return classLetter
	case unicode.IsNumber(r):
		return classNumber
	case unicode.IsSpace(r):
		return classSpace
	}
	return classOther
}

// runeAt decodes the character at s[i]: its rune, byte width and class.
func runeAt(s string, i int) (rune, int, charClass) {
	c := s[i]
	if c < utf8.RuneSelf {
		return rune(c), 1, classify(rune(c))
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && n <= 1 {
		return r, 1, classOther
	}
	return r, n, classify(r)
}

// byteLevelAlphabet is GPT-2's reversible map from the 256 byte values to
// printable characters: printable Latin-1 bytes ('!'..'~', '¡'..'¬',
// '®'..'ÿ') map to themselves, the other 68 bytes to U+0100 upwards in byte
// order.
type byteLevelAlphabet struct {
	toRune [256]rune
	toByte map[rune]byte
}

// byteLevelFirstShifted is the first code point given to a non-printable byte.
const byteLevelFirstShifted = 256

func newByteLevelAlphabet() *byteLevelAlphabet {
	a := &byteLevelAlphabet{toByte: make(map[rune]byte, 256)}
	next := rune(byteLevelFirstShifted)
	for b := 0; b < 256; b++ {
		printable := ('!' <= b && b <= '~') || (0xA1 <= b && b <= 0xAC) || (0xAE <= b && b <= 0xFF)
		if printable {
			a.toRune[b] = rune(b)
		} else {
			a.toRune[b] = next
			next++
		}
		a.toByte[a.toRune[b]] = byte(b)
	}
	return a
}

// encode maps raw bytes to their byte-level string.
func (a *byteLevelAlphabet) encode(s string) string {
	buf := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		buf = utf8.AppendRune(buf, a.toRune[s[i]])
	}
	return string(buf)
}

// decode maps a byte-level string back to raw bytes, appending to dst.
// Characters outside the alphabet are kept as their UTF-8 bytes.
func (a *byteLevelAlphabet) decode(dst []byte, s string) []byte {
	for _, r := range s {
		if b, ok := a.toByte[r]; ok {
			dst = append(dst, b)
		} else {
			dst = utf8.AppendRune(dst, r)
		}
	}
	return dst
}
