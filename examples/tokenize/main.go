// Command tokenize encodes the texts of a llama.cpp vocab test file and
// prints one line of ids per text, in the .out format, so the result can be
// compared with diff:
//
//	go run ./examples/tokenize -vocab testdata/tokenizer/ggml-vocab-gpt-2.gguf \
//	    -inp testdata/tokenizer/ggml-vocab-gpt-2.gguf.inp | diff - testdata/tokenizer/ggml-vocab-gpt-2.gguf.out
//
// -vocab is a tokenizer.json, a directory holding one, or a .gguf file. BOS
// and EOS are not added unless -special is given.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/fovea-ml/fovea/tokenizer"
)

func main() {
	vocab := flag.String("vocab", "", "tokenizer.json, its directory, or a .gguf file")
	inp := flag.String("inp", "", "texts separated by lines "+vocabTestSeparator)
	special := flag.Bool("special", false, "add BOS/EOS as the vocabulary configures")
	flag.Parse()
	if err := run(os.Stdout, *vocab, *inp, *special); err != nil {
		fmt.Fprintln(os.Stderr, "tokenize:", err)
		os.Exit(1)
	}
}

func run(out io.Writer, vocab, inp string, special bool) error {
	if vocab == "" || inp == "" {
		return fmt.Errorf("both -vocab and -inp are required")
	}
	tok, err := tokenizer.Load(vocab)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(inp)
	if err != nil {
		return err
	}
	texts, err := parseVocabTestInput(string(data))
	if err != nil {
		return fmt.Errorf("%s: %w", inp, err)
	}
	w := bufio.NewWriter(out)
	for _, text := range texts {
		fmt.Fprintln(w, formatVocabTestIDs(tok.Encode(text, tokenizer.WithAddSpecial(special))))
	}
	return w.Flush()
}

// vocabTestSeparator separates texts in llama.cpp's ggml-vocab-*.inp files:
// each text is followed by "\n" + vocabTestSeparator + "\n".
const vocabTestSeparator = "__ggml_vocab_test__"

// parseVocabTestInput splits the contents of a .inp file into its texts.
func parseVocabTestInput(data string) ([]string, error) {
	sep := "\n" + vocabTestSeparator + "\n"
	if !strings.HasSuffix(data, sep) {
		return nil, fmt.Errorf("vocab test input does not end with %q", sep)
	}
	return strings.Split(strings.TrimSuffix(data, sep), sep), nil
}

// formatVocabTestIDs renders ids in the .out format: each id preceded by
// one space, no trailing newline.
func formatVocabTestIDs(ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(id))
	}
	return b.String()
}
