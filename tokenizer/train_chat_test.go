package tokenizer

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTrainWriteLoad(t *testing.T) {
	sample, err := os.ReadFile(filepath.Join(testdataDir, "sample.txt"))
	require.NoError(t, err)
	corpus := strings.Split(string(sample), "\n")
	cfg := TrainConfig{VocabSize: 400, SpecialTokens: []string{"<|endoftext|>", "<image>"}, MinFrequency: 1}
	tok, err := Train(context.Background(), corpus, cfg)
	require.NoError(t, err)
	require.Equal(t, 400, tok.VocabSize())

	var buf bytes.Buffer
	require.NoError(t, tok.WriteJSON(&buf))
	back, err := FromJSON(buf.Bytes(), nil)
	require.NoError(t, err)
	require.Equal(t, 400, back.VocabSize())
	text := string(sample)
	ids := back.Encode(text)
	require.Equal(t, tok.Encode(text), ids)
	require.Less(t, len(ids), len(text)*3/4, "merges must compress the training text")
	dec, err := back.Decode(ids)
	require.NoError(t, err)
	require.Equal(t, text, dec)
	// "the" occurs often in the sample: "Ġthe" must have been learned.
	_, ok := back.TokenID("Ġthe")
	require.True(t, ok)
	require.Equal(t, []int{1}, back.Encode("<image>"))

	_, err = Train(context.Background(), corpus, TrainConfig{VocabSize: 10, MinFrequency: 1})
	require.Error(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Train(ctx, corpus, cfg)
	require.ErrorIs(t, err, context.Canceled)
}

func TestChatTemplates(t *testing.T) {
	s, err := Llava15.Format("What is this?", 1)
	require.NoError(t, err)
	require.Equal(t, "USER: <image>\nWhat is this? ASSISTANT:", s)
	s, err = Llava15.Format("Compare", 2)
	require.NoError(t, err)
	require.Equal(t, "USER: <image>\n<image>\nCompare ASSISTANT:", s)
	s, err = Mllama.Format("Describe", 1)
	require.NoError(t, err)
	require.Equal(t, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n<|image|>Describe<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", s)
	_, err = ChatTemplate("chatml").Format("x", 0)
	require.Error(t, err)
	_, err = Llava15.Format("x", -1)
	require.Error(t, err)

	spm, err := LoadGGUF(filepath.Join(testdataDir, "ggml-vocab-llama-spm.gguf"))
	require.NoError(t, err)
	_, err = spm.EncodeChat(Llava15, "hi", 1)
	require.ErrorContains(t, err, "<image>")
	ids, err := spm.EncodeChat(Llava15, "hi", 0)
	require.NoError(t, err)
	require.Equal(t, spm.Encode("USER: hi ASSISTANT:"), ids)
	require.Equal(t, 1, ids[0])

	// A trained vocabulary with the placeholder maps each image to one token.
	tok, err := Train(context.Background(), []string{"USER: hello ASSISTANT: hi"}, TrainConfig{VocabSize: 270, SpecialTokens: []string{"<image>"}, MinFrequency: 1})
	require.NoError(t, err)
	ids, err = tok.EncodeChat(Llava15, "hello", 2)
	require.NoError(t, err)
	n := 0
	for _, id := range ids {
		if id == 0 {
			n++
		}
	}
	require.Equal(t, 2, n)
}
