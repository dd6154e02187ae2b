package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/fovea-ml/fovea/internal/fsx"
)

// File names of an HF tokenizer directory.
const (
	TokenizerJSON       = "tokenizer.json"
	TokenizerConfigJSON = "tokenizer_config.json"
	ggufExt             = ".gguf"
)

// Caps on the JSON files Load reads whole (the largest published
// tokenizer.json files are a few tens of MiB; tokenizer_config.json a few).
const (
	MaxTokenizerJSONBytes   = 256 << 20
	MaxTokenizerConfigBytes = 64 << 20
)

// Load reads a tokenizer from an HF tokenizer.json file, a directory holding
// one, or a .gguf file. For tokenizer.json, a tokenizer_config.json beside it
// (when present) supplies BOS/EOS tokens and add_bos_token/add_eos_token.
func Load(path string) (*Tokenizer, error) {
	st, err := fsx.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	dir := filepath.Dir(path)
	if st.IsDir() {
		dir = path
		path = filepath.Join(dir, TokenizerJSON)
	} else if strings.EqualFold(filepath.Ext(path), ggufExt) {
		return LoadGGUF(path)
	}
	data, err := fsx.ReadFile(path, MaxTokenizerJSONBytes)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	cfg, err := fsx.ReadFile(filepath.Join(dir, TokenizerConfigJSON), MaxTokenizerConfigBytes)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t, err := FromJSON(data, cfg)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	return t, nil
}

type hfFile struct {
	AddedTokens   []hfAddedToken  `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         hfModel         `json:"model"`
}

type hfAddedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized *bool  `json:"normalized"` // absent: !special, as HF defaults
	Special    bool   `json:"special"`
}

type hfModel struct {
	Type                    string          `json:"type"`
	Vocab                   map[string]int  `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
	UnkToken                *string         `json:"unk_token"`
	ByteFallback            bool            `json:"byte_fallback"`
	IgnoreMerges            bool            `json:"ignore_merges"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
}

// hfComponent is any normalizer / pre-tokenizer / post-processor node.
type hfComponent struct {
	Type           string            `json:"type"`
	Normalizers    []json.RawMessage `json:"normalizers"`
	PreTokenizers  []json.RawMessage `json:"pretokenizers"`
	Processors     []json.RawMessage `json:"processors"`
	AddPrefixSpace *bool             `json:"add_prefix_space"`
	UseRegex       *bool             `json:"use_regex"`
	Pattern        *hfPattern        `json:"pattern"`
	Content        *string           `json:"content"`
	Prepend        *string           `json:"prepend"`
	Behavior       string            `json:"behavior"`
	Invert         bool              `json:"invert"`
	Individual     bool              `json:"individual_digits"`
	Replacement    *string           `json:"replacement"`
	PrependScheme  string            `json:"prepend_scheme"`
	Split          *bool             `json:"split"`
	Single         []hfTemplatePiece `json:"single"`
	Cls            []json.RawMessage `json:"cls"`
	Sep            []json.RawMessage `json:"sep"`
}

type hfPattern struct {
	Regex  *string `json:"Regex"`
	String *string `json:"String"`
}

type hfTemplatePiece struct {
	SpecialToken *struct {
		ID string `json:"id"`
	} `json:"SpecialToken"`
	Sequence *struct {
		ID string `json:"id"`
	} `json:"Sequence"`
}

type hfConfig struct {
	AddBOS       *bool           `json:"add_bos_token"`
	AddEOS       *bool           `json:"add_eos_token"`
	BOSToken     json.RawMessage `json:"bos_token"`
	EOSToken     json.RawMessage `json:"eos_token"`
	ChatTemplate json.RawMessage `json:"chat_template"`
}

// FromJSON builds a tokenizer from the bytes of tokenizer.json and,
// optionally (nil to skip), tokenizer_config.json.
func FromJSON(tokenizerJSON, configJSON []byte) (*Tokenizer, error) {
	var f hfFile
	if err := json.Unmarshal(tokenizerJSON, &f); err != nil {
		return nil, fmt.Errorf("parse %s: %w", TokenizerJSON, err)
	}
	if f.Model.Type != "BPE" && !(f.Model.Type == "" && f.Model.Merges != nil) {
		return nil, fmt.Errorf("model type %q is not supported (only BPE)", f.Model.Type)
	}
	if p := f.Model.ContinuingSubwordPrefix; p != nil && *p != "" {
		return nil, fmt.Errorf("continuing_subword_prefix %q is not supported", *p)
	}
	if s := f.Model.EndOfWordSuffix; s != nil && *s != "" {
		return nil, fmt.Errorf("end_of_word_suffix %q is not supported", *s)
	}
	t := &Tokenizer{bos: noToken, eos: noToken, unk: noToken,
		byteFallback: f.Model.ByteFallback, ignoreMerges: f.Model.IgnoreMerges}
	if err := t.jsonVocab(&f); err != nil {
		return nil, err
	}
	kind, err := t.jsonPipeline(&f)
	if err != nil {
		return nil, err
	}
	t.kind = kind
	if t.kind == SentencePiece {
		for id, s := range t.vocab {
			if _, ok := parseByteToken(s); ok && t.types[id] == TypeNormal {
				t.types[id] = TypeByte
			}
		}
	}
	if err := t.jsonMerges(f.Model.Merges); err != nil {
		return nil, err
	}
	if f.Model.UnkToken != nil {
		id, ok := t.ids[*f.Model.UnkToken]
		if !ok {
			return nil, fmt.Errorf("unk_token %q is not in the vocabulary", *f.Model.UnkToken)
		}
		t.unk = int(id)
	}
	if err := t.jsonPostProcessor(f.PostProcessor); err != nil {
		return nil, err
	}
	if len(configJSON) > 0 {
		if err := t.jsonConfig(configJSON); err != nil {
			return nil, err
		}
	}
	if err := t.finish(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Tokenizer) jsonVocab(f *hfFile) error {
	if len(f.Model.Vocab) == 0 {
		return fmt.Errorf("model.vocab is empty")
	}
	size := 0
	for s, id := range f.Model.Vocab {
		if id < 0 {
			return fmt.Errorf("vocab entry %q has negative id %d", s, id)
		}
		size = max(size, id+1)
	}
	for _, a := range f.AddedTokens {
		if a.ID < 0 {
			return fmt.Errorf("added token %q has negative id %d", a.Content, a.ID)
		}
		size = max(size, a.ID+1)
	}
	if size > 2*(len(f.Model.Vocab)+len(f.AddedTokens)) {
		return fmt.Errorf("ids up to %d for only %d tokens: the vocabulary is corrupt", size-1, len(f.Model.Vocab)+len(f.AddedTokens))
	}
	t.vocab = make([]string, size)
	t.types = make([]TokenType, size)
	t.ids = make(map[string]int32, size)
	for s, id := range f.Model.Vocab {
		if t.vocab[id] != "" {
			return fmt.Errorf("vocab id %d is used by both %q and %q", id, t.vocab[id], s)
		}
		t.vocab[id], t.types[id] = s, TypeNormal
		t.ids[s] = int32(id)
	}
	addedAt := make(map[int]string, len(f.AddedTokens))
	for _, a := range f.AddedTokens {
		if a.Content == "" {
			return fmt.Errorf("added token %d has empty content", a.ID)
		}
		if err := checkAddedToken(t, addedAt, a.ID, a.Content); err != nil {
			return err
		}
		if _, dup := addedAt[a.ID]; dup {
			continue // the same token listed twice
		}
		addedAt[a.ID] = a.Content
		t.vocab[a.ID] = a.Content
		t.types[a.ID] = TypeUserDefined
		if a.Special {
			t.types[a.ID] = TypeControl
		}
		t.ids[a.Content] = int32(a.ID)
		normalized := !a.Special
		if a.Normalized != nil {
			normalized = *a.Normalized
		}
		t.added = append(t.added, AddedToken{ID: a.ID, Content: a.Content, Special: a.Special,
			LStrip: a.LStrip, RStrip: a.RStrip, Normalized: normalized})
	}
	return nil
}

func (t *Tokenizer) jsonMerges(raw json.RawMessage) error {
	var lines []string
	if err := json.Unmarshal(raw, &lines); err != nil {
		var pairs [][]string
		if err2 := json.Unmarshal(raw, &pairs); err2 != nil {
			return fmt.Errorf("model.merges is neither a list of strings nor of pairs: %w", err)
		}
		t.merges = make(mergeTable, len(pairs))
		for rank, p := range pairs {
			if len(p) != 2 {
				return fmt.Errorf("merge %d has %d parts, want 2", rank, len(p))
			}
			if err := t.merges.add(rank, p[0], p[1], t.ids); err != nil {
				return fmt.Errorf("merge %d: %w", rank, err)
			}
		}
		return nil
	}
	m, err := mergesFromStrings(lines, t.ids)
	t.merges = m
	return err
}

// jsonPipeline reads normalizer and pre_tokenizer and decides the kind.
func (t *Tokenizer) jsonPipeline(f *hfFile) (Family, error) {
	kind := Family(-1)
	var flags normalizerFlags
	n, err := parseNormalizer(f.Normalizer, &flags)
	if err != nil {
		return 0, err
	}
	if err := checkNormalizerGrowth(n); err != nil {
		return 0, err
	}
	t.norm, t.normPrefix, t.normMeta = n, flags.prependMeta, flags.spaceToMeta
	if flags.prependMeta || flags.spaceToMeta {
		kind = SentencePiece
	}
	pre := &preTokenizer{}
	var walkPre func(raw json.RawMessage) error
	walkPre = func(raw json.RawMessage) error {
		c, err := parseComponent(raw)
		if err != nil || c == nil {
			return err
		}
		switch c.Type {
		case "Sequence":
			for _, p := range c.PreTokenizers {
				if err := walkPre(p); err != nil {
					return err
				}
			}
		case "ByteLevel":
			kind = ByteLevel
			if c.AddPrefixSpace != nil && *c.AddPrefixSpace {
				t.addPrefixSpace = true
			}
			if c.UseRegex == nil || *c.UseRegex {
				pre.stages = append(pre.stages, gpt2Splitter{})
			}
		case "Split":
			if c.Behavior != "Isolated" || c.Invert {
				return fmt.Errorf("Split behavior %q (invert %v) is not supported (only Isolated)", c.Behavior, c.Invert)
			}
			if c.Pattern == nil {
				return fmt.Errorf("Split without a pattern")
			}
			var s splitter
			switch {
			case c.Pattern.Regex != nil:
				s, err = newPatternSplitter(*c.Pattern.Regex)
			case c.Pattern.String != nil:
				s, err = newPatternSplitter(regexp.QuoteMeta(*c.Pattern.String))
			default:
				err = fmt.Errorf("Split pattern has neither Regex nor String")
			}
			if err != nil {
				return err
			}
			pre.stages = append(pre.stages, s)
		case "Digits":
			if c.Individual {
				pre.stages = append(pre.stages, digitsSplitter{})
			} else {
				s, err := newPatternSplitter(`\p{N}+`)
				if err != nil {
					return err
				}
				pre.stages = append(pre.stages, s)
			}
		case "Metaspace":
			if c.Replacement != nil && *c.Replacement != metaspace {
				return fmt.Errorf("Metaspace replacement %q is not supported", *c.Replacement)
			}
			kind, t.spaceToMeta = SentencePiece, true
			t.addPrefixSpace = c.PrependScheme != "never" && (c.AddPrefixSpace == nil || *c.AddPrefixSpace)
			t.prefixFirstOnly = c.PrependScheme == "first"
			t.prefixUnlessSpace = true
			t.metaSplit = c.Split == nil || *c.Split
		default:
			return fmt.Errorf("pre-tokenizer %q is not supported", c.Type)
		}
		return nil
	}
	if err := walkPre(f.PreTokenizer); err != nil {
		return 0, err
	}
	if kind < 0 {
		return 0, fmt.Errorf("cannot tell byte-level from SentencePiece: no ByteLevel pre-tokenizer and no Metaspace/Replace(' ', %q)", metaspace)
	}
	if len(pre.stages) > 0 {
		if kind != ByteLevel {
			return 0, fmt.Errorf("regex pre-tokenizers are only supported with ByteLevel")
		}
		t.pre = pre
	}
	return kind, nil
}

func parseComponent(raw json.RawMessage) (*hfComponent, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var c hfComponent
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("parse component: %w", err)
	}
	return &c, nil
}

// jsonPostProcessor takes BOS/EOS insertion from TemplateProcessing (the
// special tokens before/after $A in "single") or Roberta/Bert cls/sep.
func (t *Tokenizer) jsonPostProcessor(raw json.RawMessage) error {
	c, err := parseComponent(raw)
	if err != nil || c == nil {
		return err
	}
	switch c.Type {
	case "Sequence":
		for _, p := range c.Processors {
			if err := t.jsonPostProcessor(p); err != nil {
				return err
			}
		}
	case "TemplateProcessing":
		seenA := false
		for _, p := range c.Single {
			switch {
			case p.Sequence != nil:
				seenA = true
			case p.SpecialToken != nil:
				id, ok := t.ids[p.SpecialToken.ID]
				if !ok {
					return fmt.Errorf("post-processor special token %q is not in the vocabulary", p.SpecialToken.ID)
				}
				if seenA {
					t.eos, t.addEOS = int(id), true
				} else {
					t.bos, t.addBOS = int(id), true
				}
			}
		}
	case "ByteLevel":
	default:
		return fmt.Errorf("post-processor %q is not supported", c.Type)
	}
	return nil
}

// jsonConfig applies tokenizer_config.json: bos_token / eos_token (string or
// {"content": ...}) and add_bos_token / add_eos_token overrides.
func (t *Tokenizer) jsonConfig(data []byte) error {
	var c hfConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return fmt.Errorf("parse %s: %w", TokenizerConfigJSON, err)
	}
	for _, e := range []struct {
		raw json.RawMessage
		dst *int
		key string
	}{{c.BOSToken, &t.bos, "bos_token"}, {c.EOSToken, &t.eos, "eos_token"}} {
		s, err := tokenContent(e.raw)
		if err != nil {
			return fmt.Errorf("%s %s: %w", TokenizerConfigJSON, e.key, err)
		}
		if s == "" {
			continue
		}
		id, ok := t.ids[s]
		if !ok {
			return fmt.Errorf("%s %s %q is not in the vocabulary", TokenizerConfigJSON, e.key, s)
		}
		*e.dst = int(id)
	}
	if c.AddBOS != nil {
		t.addBOS = *c.AddBOS
	}
	if c.AddEOS != nil {
		t.addEOS = *c.AddEOS
	}
	_ = json.Unmarshal(c.ChatTemplate, &t.chatTemplate) // a string; HF's list of named templates is read by package fovea
	return nil
}

func tokenContent(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return "", err
	}
	return obj.Content, nil
}
