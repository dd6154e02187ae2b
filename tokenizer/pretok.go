package tokenizer

import (
	"fmt"
	"regexp"
	"strings"
)

// splitter cuts a string into consecutive pieces that together cover it
// exactly (the reference's "Isolated" split behaviour: matches and the gaps
// between them are both kept). Pieces are appended to out.
type splitter interface {
	split(s string, out []string) []string
}

// preTokenizer applies splitters in sequence: each stage re-splits every
// piece of the previous stage, as HF's Sequence pre-tokenizer and llama.cpp's
// list of regex_exprs do.
type preTokenizer struct {
	stages []splitter
}

// scanner is a splitter that finds each piece's end directly; a
// single-stage pre-tokenizer built on one streams pieces without a slice.
type scanner interface {
	next(s string, i int) int
}

// each calls fn for every piece of s. scratch is reused for multi-stage
// pre-tokenizers and returned for the next call.
func (p *preTokenizer) each(s string, scratch []string, fn func(string)) []string {
	if len(p.stages) == 1 {
		if sc, ok := p.stages[0].(scanner); ok {
			for i := 0; i < len(s); {
				j := sc.next(s, i)
				fn(s[i:j])
				i = j
			}
			return scratch
		}
	}
	scratch = p.split(s, scratch[:0])
	for _, w := range scratch {
		fn(w)
	}
	return scratch
}

func (p *preTokenizer) split(s string, out []string) []string {
	if len(s) == 0 {
		return out
	}
	start := len(out)
	out = append(out, s)
	for _, st := range p.stages {
		cur := append([]string(nil), out[start:]...)
		out = out[:start]
		for _, piece := range cur {
			out = st.split(piece, out)
		}
	}
	return out
}

// Pattern strings of the reference pre-tokenizers that have a hand-written
// scanner (Go's regexp lacks the (?!\S) lookahead they use).
const (
	patternGPT2         = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	patternGPT2NoTail   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`
	patternLlama3       = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	patternQwen2        = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	patternLlama3Folded = `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	patternQwen2Folded  = `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// Digit-group widths of the Llama-3 (\p{N}{1,3}) and Qwen2 (\p{N}) patterns.
const (
	llama3DigitGroup = 3
	qwen2DigitGroup  = 1
)

// deepseekLLMPatterns are DeepSeek-LLM's Split regexes, in order (from its
// tokenizer.json; llama.cpp's "deepseek-llm" pre-type uses the same list).
var deepseekLLMPatterns = []string{
	`[\r\n]`,
	`\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293}\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+`,
	`\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+`,
	`\s+$`,
	`[\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+`,
	`\p{N}+`,
}

// deepseekCoderPatterns are DeepSeek-Coder's Split regexes, in order.
var deepseekCoderPatterns = []string{
	`[\r\n]`,
	`\s?\p{L}+`,
	`\s?\p{P}+`,
	`[\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+`,
	`\p{N}`,
}

// newPreTokenizerByName builds the pre-tokenizer llama.cpp selects for a
// GGUF tokenizer.ggml.pre value.
func newPreTokenizerByName(name string) (*preTokenizer, error) {
	switch name {
	case "gpt-2", "gpt2", "phi-2", "mpt", "olmo", "jais", "jina-es", "jina-de", "jina-v1-en", "jina-v2-es", "jina-v2-de", "jina-v2-code":
		return &preTokenizer{stages: []splitter{gpt2Splitter{}}}, nil
	case "llama3", "llama-v3", "llama-bpe", "falcon3", "dbrx", "smaug-bpe", "chatglm-bpe":
		return &preTokenizer{stages: []splitter{llama3Splitter{maxDigits: llama3DigitGroup}}}, nil
	case "qwen2", "stablelm2":
		return &preTokenizer{stages: []splitter{llama3Splitter{maxDigits: qwen2DigitGroup}}}, nil
	case "starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b":
		return &preTokenizer{stages: []splitter{digitsSplitter{}, gpt2Splitter{}}}, nil
	case "deepseek-llm":
		return regexSequence(deepseekLLMPatterns)
	case "deepseek-coder":
		return regexSequence(deepseekCoderPatterns)
	case "falcon":
		return regexSequence([]string{`[\p{P}\$\+<=>\^~\|` + "`" + `]+`, patternGPT2, `[0-9][0-9][0-9]`})
	case "default", "":
		return regexSequence([]string{`[\p{P}\$\+<=>\^~\|]+`, patternGPT2, `\p{N}+`, `[0-9][0-9][0-9]`})
	}
	return nil, fmt.Errorf("tokenizer: unsupported pre-tokenizer %q", name)
}

func regexSequence(patterns []string) (*preTokenizer, error) {
	p := &preTokenizer{}
	for _, pat := range patterns {
		s, err := newPatternSplitter(pat)
		if err != nil {
			return nil, err
		}
		p.stages = append(p.stages, s)
	}
	return p, nil
}

// newPatternSplitter returns a hand-written scanner for the known patterns
// and a Go regexp (with \s widened to Unicode White_Space) otherwise.
func newPatternSplitter(pat string) (splitter, error) {
	switch pat {
	case patternGPT2, patternGPT2NoTail:
		return gpt2Splitter{}, nil
	case patternLlama3, patternLlama3Folded:
		return llama3Splitter{maxDigits: llama3DigitGroup}, nil
	case patternQwen2, patternQwen2Folded:
		return llama3Splitter{maxDigits: qwen2DigitGroup}, nil
	}
	if strings.Contains(pat, "(?=") || strings.Contains(pat, "(?!") || strings.Contains(pat, "(?<") {
		return nil, fmt.Errorf("tokenizer: pre-tokenizer regex %q uses lookaround, which has no scanner here", pat)
	}
	re, err := regexp.Compile(translateRegex(pat))
	if err != nil {
		return nil, fmt.Errorf("tokenizer: pre-tokenizer regex %q: %w", pat, err)
	}
	return regexSplitter{re: re}, nil
}

// unicodeSpaceClass is the White_Space property spelled for Go's regexp,
// whose \s is ASCII-only.
const unicodeSpaceClass = `\t\n\v\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}`

// translateRegex rewrites Oniguruma escapes Go spells differently: \s and
// \S outside and inside brackets.
func translateRegex(pat string) string {
	var b strings.Builder
	inClass := false
	for i := 0; i < len(pat); i++ {
		c := pat[i]
		if c == '\\' && i+1 < len(pat) {
			n := pat[i+1]
			switch {
			case n == 's' && inClass:
				b.WriteString(unicodeSpaceClass)
			case n == 's':
				b.WriteString("[" + unicodeSpaceClass + "]")
			case n == 'S' && !inClass:
				b.WriteString("[^" + unicodeSpaceClass + "]")
			default:
				b.WriteByte(c)
				b.WriteByte(n)
			}
			i++
			continue
		}
		if c == '[' && !inClass {
			inClass = true
		} else if c == ']' && inClass {
			inClass = false
		}
		b.WriteByte(c)
	}
	return b.String()
}

// regexSplitter isolates every match of re; gaps become pieces too.
type regexSplitter struct {
	re *regexp.Regexp
}

func (r regexSplitter) split(s string, out []string) []string {
	last := 0
	for _, m := range r.re.FindAllStringIndex(s, -1) {
		if m[0] == m[1] {
			continue
		}
		if m[0] > last {
			out = append(out, s[last:m[0]])
		}
		out = append(out, s[m[0]:m[1]])
		last = m[1]
	}
	if last < len(s) {
		out = append(out, s[last:])
	}
	return out
}

// digitsSplitter isolates every \p{N} character (HF Digits with
// individual_digits=true).
type digitsSplitter struct{}

func (digitsSplitter) split(s string, out []string) []string {
	last := 0
	for i := 0; i < len(s); {
		_, n, cl := runeAt(s, i)
		if cl == classNumber {
			if i > last {
				out = append(out, s[last:i])
			}
			out = append(out, s[i:i+n])
			last = i + n
		}
		i += n
	}
	if last < len(s) {
		out = append(out, s[last:])
	}
	return out
}

// contraction returns the length of an English contraction ('s 't 're 've
// 'm 'll 'd) at s[i] (which is '\”), or 0. fold makes it ASCII
// case-insensitive, as in the Llama-3 pattern's (?i:...).
func contraction(s string, i int, fold bool) int {
	lower := func(k int) byte {
		if k >= len(s) {
			return 0
		}
		c := s[k]
		if fold && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		return c
	}
	switch a := lower(i + 1); a {
	case 's', 't', 'm', 'd':
		return 2
	case 'r', 'v':
		if lower(i+2) == 'e' {
			return 3
		}
	case 'l':
		if lower(i+2) == 'l' {
			return 3
		}
	}
	return 0
}

// runEnd returns the end of the run of characters of class cl starting at i.
func runEnd(s string, i int, cl charClass) int {
	for i < len(s) {
		_, n, c := runeAt(s, i)
		if c != cl {
			break
		}
		i += n
	}
	return i
}

// spaceEnd handles `\s+(?!\S)|\s+` at i (a whitespace character): the whole
// run if it reaches the end of s, else the run minus its last character
// (which then prefixes the next word), or the single character when the run
// has only one.
func spaceEnd(s string, i int) int {
	j, lastStart := i, i
	for j < len(s) {
		_, n, c := runeAt(s, j)
		if c != classSpace {
			break
		}
		lastStart = j
		j += n
	}
	if j == len(s) || lastStart == i {
		return j
	}
	return lastStart
}

// gpt2Splitter scans GPT-2's pattern
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
type gpt2Splitter struct{}

func (g gpt2Splitter) split(s string, out []string) []string {
	for i := 0; i < len(s); {
		j := g.next(s, i)
		out = append(out, s[i:j])
		i = j
	}
	return out
}

func (gpt2Splitter) next(s string, i int) int {
	if s[i] == '\'' {
		if n := contraction(s, i, false); n > 0 {
			return i + n
		}
	}
	_, n, cl := runeAt(s, i)
	if s[i] == ' ' && i+1 < len(s) {
		if _, n2, cl2 := runeAt(s, i+1); cl2 != classSpace {
			return runEnd(s, i+1+n2, cl2)
		}
	}
	if cl == classSpace {
		return spaceEnd(s, i)
	}
	return runEnd(s, i+n, cl)
}

// llama3Splitter scans the Llama-3 pattern (maxDigits 3) and the Qwen2
// pattern (maxDigits 1):
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,k}|
// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
type llama3Splitter struct {
	maxDigits int
}

func (l llama3Splitter) split(s string, out []string) []string {
	for i := 0; i < len(s); {
		j := l.next(s, i)
		out = append(out, s[i:j])
		i = j
	}
	return out
}

func isCRLF(c byte) bool { return c == '\r' || c == '\n' }

// newlineRunEnd extends j over [\r\n]*.
func newlineRunEnd(s string, j int) int {
	for j < len(s) && isCRLF(s[j]) {
		j++
	}
	return j
}

func (l llama3Splitter) next(s string, i int) int {
	if s[i] == '\'' {
		if n := contraction(s, i, true); n > 0 {
			return i + n
		}
	}
	_, n, cl := runeAt(s, i)
	switch cl {
	case classLetter:
		return runEnd(s, i+n, classLetter)
	case classNumber:
		j := i + n
		for k := 1; k < l.maxDigits && j < len(s); k++ {
			_, n2, c2 := runeAt(s, j)
			if c2 != classNumber {
				break
			}
			j += n2
		}
		return j
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+ with a one-character prefix.
	if !isCRLF(s[i]) && i+n < len(s) {
		if _, n2, c2 := runeAt(s, i+n); c2 == classLetter {
			return runEnd(s, i+n+n2, classLetter)
		}
	}
	// ` ?[^\s\p{L}\p{N}]+[\r\n]*`
	if cl == classOther {
		return newlineRunEnd(s, runEnd(s, i+n, classOther))
	}
	if s[i] == ' ' && i+1 < len(s) {
		if _, n2, c2 := runeAt(s, i+1); c2 == classOther {
			return newlineRunEnd(s, runEnd(s, i+1+n2, classOther))
		}
	}
	// cl is classSpace. `\s*[\r\n]+`: up to the last newline of the run.
	j, lastNL := i, -1
	for j < len(s) {
		_, n2, c2 := runeAt(s, j)
		if c2 != classSpace {
			break
		}
		if isCRLF(s[j]) {
			lastNL = j
		}
		j += n2
	}
	if lastNL >= 0 {
		return lastNL + 1
	}
	return spaceEnd(s, i)
}
