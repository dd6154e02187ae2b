package tokenizer

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// normalizer is one HF tokenizers normalizer: a pure function of the text of
// one segment (the text between added tokens). Implementations keep bytes
// that are not valid UTF-8 unchanged, so byte-level vocabularies still
// round-trip arbitrary input.
type normalizer interface {
	normalize(s string) string
}

// normSequence applies its normalizers in order (HF "Sequence").
type normSequence []normalizer

func (q normSequence) normalize(s string) string {
	for _, n := range q {
		s = n.normalize(s)
	}
	return s
}

// unicodeForm is one of NFC, NFD, NFKC, NFKD.
type unicodeForm struct{ form norm.Form }

func (u unicodeForm) normalize(s string) string {
	if u.form.IsNormalString(s) {
		return s
	}
	return u.form.String(s)
}

// lowercase maps every character to its full lowercase mapping, character by
// character as Rust's char::to_lowercase does (no final-sigma context).
type lowercase struct{}

// dottedCapitalI is U+0130, the one character whose unconditional lowercase
// mapping (SpecialCasing.txt) is two characters; Go's unicode.ToLower gives
// only the simple mapping 'i'.
const (
	dottedCapitalI      = '\u0130'
	dottedCapitalILower = "i\u0307"
)

func (lowercase) normalize(s string) string {
	i := 0
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				break
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r != utf8.RuneError || n > 1) && (r == dottedCapitalI || unicode.ToLower(r) != r) {
			break
		}
		i += n
	}
	if i == len(s) {
		return s // nothing to change: no allocation on the common path
	}
	var b strings.Builder
	b.Grow(len(s) + utf8.UTFMax)
	b.WriteString(s[:i])
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b.WriteByte(c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteByte(c) // invalid UTF-8 passes through
		case r == dottedCapitalI:
			b.WriteString(dottedCapitalILower)
		default:
			b.WriteRune(unicode.ToLower(r))
		}
		i += n
	}
	return b.String()
}

// strip removes leading and/or trailing Unicode White_Space (Rust's
// char::is_whitespace, which unicode.IsSpace matches).
type strip struct{ left, right bool }

func (p strip) normalize(s string) string {
	if p.left {
		s = strings.TrimLeftFunc(s, isWhiteSpace)
	}
	if p.right {
		s = strings.TrimRightFunc(s, isWhiteSpace)
	}
	return s
}

// isWhiteSpace is the White_Space property; the replacement character that
// strings' Trim functions report for invalid bytes is not space.
func isWhiteSpace(r rune) bool { return unicode.IsSpace(r) }

// stripAccents drops combining marks (categories Mn, Mc, Me), as HF's
// StripAccents does; it is meant to follow NFD or NFKD.
type stripAccents struct{}

func (stripAccents) normalize(s string) string {
	if strings.IndexFunc(s, isMark) < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !(n > 1 && isMark(r)) {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func isMark(r rune) bool { return unicode.Is(unicode.M, r) }

// replaceString replaces every non-overlapping occurrence of old, left to
// right (HF Replace with a String pattern).
type replaceString struct{ old, content string }

func (p replaceString) normalize(s string) string {
	return strings.ReplaceAll(s, p.old, p.content)
}

// replaceRegex replaces every match of re with content taken literally (HF
// Replace with a Regex pattern; "$1" is not expanded).
type replaceRegex struct {
	re      *regexp.Regexp
	content string
}

func (p replaceRegex) normalize(s string) string {
	return p.re.ReplaceAllLiteralString(s, p.content)
}

// prepend puts a prefix before every non-empty segment (HF Prepend).
type prepend struct{ prefix string }

func (p prepend) normalize(s string) string {
	if s == "" {
		return s
	}
	return p.prefix + s
}

// normalizerFlags records the normalizers that identify a SentencePiece
// pipeline written as normalizers (Llama-2's Prepend("▁") + Replace(" ",
// "▁")); Decode undoes them.
type normalizerFlags struct {
	prependMeta bool // Prepend("▁")
	spaceToMeta bool // Replace(" " -> "▁")
}

// parseNormalizer builds the normalizer of a tokenizer.json "normalizer"
// node (nil for null or an empty Sequence). An unknown type, a missing field
// or a regex Go cannot run is an error naming it.
func parseNormalizer(raw json.RawMessage, flags *normalizerFlags) (normalizer, error) {
	c, err := parseComponent(raw)
	if err != nil || c == nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		if c.Normalizers == nil {
			return nil, fmt.Errorf("normalizer Sequence without a \"normalizers\" list")
		}
		var seq normSequence
		for i, r := range c.Normalizers {
			n, err := parseNormalizer(r, flags)
			if err != nil {
				return nil, fmt.Errorf("normalizer Sequence[%d]: %w", i, err)
			}
			if n != nil {
				seq = append(seq, n)
			}
		}
		switch len(seq) {
		case 0:
			return nil, nil
		case 1:
			return seq[0], nil
		}
		return seq, nil
	case "NFC":
		return unicodeForm{norm.NFC}, nil
	case "NFD":
		return unicodeForm{norm.NFD}, nil
	case "NFKC":
		return unicodeForm{norm.NFKC}, nil
	case "NFKD":
		return unicodeForm{norm.NFKD}, nil
	case "Lowercase":
		return lowercase{}, nil
	case "StripAccents":
		return stripAccents{}, nil
	case "Strip":
		var s struct {
			Left  *bool `json:"strip_left"`
			Right *bool `json:"strip_right"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("normalizer Strip: %w", err)
		}
		if s.Left == nil || s.Right == nil {
			return nil, fmt.Errorf("normalizer Strip needs strip_left and strip_right")
		}
		return strip{left: *s.Left, right: *s.Right}, nil
	case "Prepend":
		if c.Prepend == nil {
			return nil, fmt.Errorf("normalizer Prepend without \"prepend\"")
		}
		if *c.Prepend == metaspace {
			flags.prependMeta = true
		}
		return prepend{prefix: *c.Prepend}, nil
	case "Replace":
		if c.Pattern == nil || c.Content == nil {
			return nil, fmt.Errorf("normalizer Replace needs \"pattern\" and \"content\"")
		}
		switch {
		case c.Pattern.String != nil:
			if *c.Pattern.String == "" {
				return nil, fmt.Errorf("normalizer Replace with an empty String pattern")
			}
			if *c.Pattern.String == " " && *c.Content == metaspace {
				flags.spaceToMeta = true
			}
			return replaceString{old: *c.Pattern.String, content: *c.Content}, nil
		case c.Pattern.Regex != nil:
			pat := *c.Pattern.Regex
			if strings.Contains(pat, "(?=") || strings.Contains(pat, "(?!") || strings.Contains(pat, "(?<") {
				return nil, fmt.Errorf("normalizer Replace regex %q uses lookaround, which Go's regexp lacks", pat)
			}
			re, err := regexp.Compile(translateRegex(pat))
			if err != nil {
				return nil, fmt.Errorf("normalizer Replace regex %q: %w", pat, err)
			}
			return replaceRegex{re: re, content: *c.Content}, nil
		}
		return nil, fmt.Errorf("normalizer Replace pattern has neither String nor Regex")
	case "":
		return nil, fmt.Errorf("normalizer without a \"type\"")
	}
	return nil, fmt.Errorf("normalizer %q is not supported", c.Type)
}
