// Package traintest builds small trainable model folders for the tests of
// train/ and examples/train: a tiny golden checkpoint plus a byte-level
// BPE tokenizer trained on the test conversations.
package traintest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/fovea-ml/fovea/tokenizer"
)

// TB is the part of testing.TB that Folder uses (Examples pass their own).
type TB interface {
	Helper()
	Fatal(args ...any)
	TempDir() string
}

// tokenizerVocab is the trained vocabulary size (below the tiny models'
// 384 LM-head rows).
const tokenizerVocab = 320

// Root is the repository root.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// DataDir is testdata/train (conversation files and images).
func DataDir() string { return filepath.Join(Root(), "testdata", "train") }

// Folder copies testdata/<golden> (llava_tiny or mllama_tiny) to a
// temporary folder, adds a tokenizer.json trained on testdata/train's
// texts with the template's special tokens, and points config.json's
// image_token_index at the tokenizer's image token.
func Folder(tb TB, golden string) string {
	tb.Helper()
	src := filepath.Join(Root(), "testdata", golden)
	dst := filepath.Join(tb.TempDir(), golden)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		tb.Fatal(err)
	}
	for _, f := range []string{"config.json", "model.safetensors", "preprocessor_config.json", "generation_config.json"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	// tokenizer_config.json names the special tokens as the real
	// folders' do (LLaVA-1.5: eos "</s>"; Llama-3.2-Vision-Instruct: bos
	// "<|begin_of_text|>", eos "<|eot_id|>").
	specials, image := []string{"</s>", tokenizer.LlavaImageToken}, tokenizer.LlavaImageToken
	tokCfg := map[string]string{"eos_token": "</s>"}
	if strings.HasPrefix(golden, "mllama") {
		specials = []string{"<|end_of_text|>", "<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", tokenizer.MllamaImageToken}
		image = tokenizer.MllamaImageToken
		tokCfg = map[string]string{"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}
	}
	var corpus []string
	for _, f := range []string{"data.jsonl", "eval.json"} {
		data, err := os.ReadFile(filepath.Join(DataDir(), f))
		if err != nil {
			tb.Fatal(err)
		}
		corpus = append(corpus, string(data))
	}
	tok, err := tokenizer.Train(context.Background(), corpus, tokenizer.TrainConfig{VocabSize: tokenizerVocab, SpecialTokens: specials, MinFrequency: 2})
	if err != nil {
		tb.Fatal(err)
	}
	if err := tok.SaveJSON(filepath.Join(dst, tokenizer.TokenizerJSON)); err != nil {
		tb.Fatal(err)
	}
	rawCfg, _ := json.Marshal(tokCfg)
	if err := os.WriteFile(filepath.Join(dst, tokenizer.TokenizerConfigJSON), rawCfg, 0o644); err != nil {
		tb.Fatal(err)
	}
	id, _ := tok.TokenID(image)
	cfgPath := filepath.Join(dst, "config.json")
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		tb.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		tb.Fatal(err)
	}
	cfg["image_token_index"] = id
	out, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(cfgPath, out, 0o644); err != nil {
		tb.Fatal(err)
	}
	return dst
}
