package tokenizer

// Readers and writers of llama.cpp's ggml-vocab-*.inp and .out test files.

import (
	"fmt"
	"strconv"
	"strings"
)

// vocabTestSeparator separates texts in llama.cpp's ggml-vocab-*.inp files:
// each text is followed by "\n" + vocabTestSeparator + "\n".
const vocabTestSeparator = "__ggml_vocab_test__"

// parseVocabTestInput splits the contents of a .inp file into its texts.
func parseVocabTestInput(data string) ([]string, error) {
	sep := "\n" + vocabTestSeparator + "\n"
	if !strings.HasSuffix(data, sep) {
		return nil, fmt.Errorf("tokenizer: vocab test input does not end with %q", sep)
	}
	parts := strings.Split(strings.TrimSuffix(data, sep), sep)
	return parts, nil
}

// parseVocabTestOutput parses a .out file: one line of ids per text.
func parseVocabTestOutput(data string) ([][]int, error) {
	lines := strings.Split(strings.TrimSuffix(data, "\n"), "\n")
	out := make([][]int, len(lines))
	for i, line := range lines {
		fields := strings.Fields(line)
		out[i] = make([]int, 0, len(fields))
		for _, f := range fields {
			id, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("tokenizer: vocab test output line %d: %w", i+1, err)
			}
			out[i] = append(out[i], id)
		}
	}
	return out, nil
}
