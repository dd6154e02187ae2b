package tokenizer

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// replaceInvalidRef is the plain reference: each byte outside a valid UTF-8
// sequence becomes U+FFFD (ranging over a string does exactly that).
func replaceInvalidRef(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}

// The stream decoder, fed one id at a time, gives Decode's text (invalid
// bytes as U+FFFD), on byte-level and SentencePiece vocabularies, for
// random ids (which split multi-byte characters at random places).
func TestStreamDecoderMatchesDecode(t *testing.T) {
	for _, name := range []string{"ggml-vocab-gpt-2.gguf", "ggml-vocab-llama-spm.gguf"} {
		tok, err := Load(filepath.Join(testdataDir, name))
		require.NoError(t, err)
		rng := rand.New(rand.NewPCG(1, 2))
		for trial := 0; trial < 200; trial++ {
			ids := make([]int, 1+rng.IntN(12))
			for i := range ids {
				ids[i] = rng.IntN(tok.VocabSize())
			}
			want, err := tok.Decode(ids)
			require.NoError(t, err)
			sd := tok.NewStreamDecoder(false)
			var got strings.Builder
			for _, id := range ids {
				s, err := sd.Add(id)
				require.NoError(t, err)
				require.True(t, isValidUTF8(s), "every piece is valid UTF-8")
				got.WriteString(s)
			}
			got.WriteString(sd.Flush())
			require.Equal(t, replaceInvalidRef(want), got.String(), "%s ids %v", name, ids)
		}
	}
}

func isValidUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// A character split over byte tokens is held back until it completes; an
// id outside the vocabulary is an error that does not disturb the text.
func TestStreamDecoderHoldsBackPartialCharacters(t *testing.T) {
	tok, err := Load(filepath.Join(testdataDir, "ggml-vocab-llama-spm.gguf"))
	require.NoError(t, err)
	var byteIDs []int // é and € as SentencePiece byte tokens <0xNN>
	for _, b := range []byte("é€") {
		id, ok := tok.TokenID(fmt.Sprintf("<0x%02X>", b))
		require.True(t, ok)
		byteIDs = append(byteIDs, id)
	}
	sd := tok.NewStreamDecoder(false)
	var pieces []string
	for i, id := range byteIDs {
		s, err := sd.Add(id)
		require.NoError(t, err)
		pieces = append(pieces, s)
		if i == 2 {
			_, err := sd.Add(tok.VocabSize() + 5)
			require.ErrorContains(t, err, "outside the vocabulary")
		}
	}
	require.Equal(t, []string{"", "é", "", "", "€"}, pieces)
	require.Equal(t, "", sd.Flush())

	// Special tokens: kept, or skipped with skipSpecial.
	bos := tok.BOS()
	s, err := tok.NewStreamDecoder(false).Add(bos)
	require.NoError(t, err)
	require.Equal(t, "<s>", s)
	s, err = tok.NewStreamDecoder(true).Add(bos)
	require.NoError(t, err)
	require.Equal(t, "", s)
}
