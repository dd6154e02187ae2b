package tokenizer

import (
	"unicode/utf8"
)

// StreamDecoder turns generated ids into text one id at a time, in time
// linear in the output: each id's bytes are appended once, and bytes that
// end in an unfinished UTF-8 character are held back until a later id
// completes it. What Add returns, concatenated, is Decode of the same ids
// with each byte that can never form valid UTF-8 replaced by U+FFFD. A
// StreamDecoder is not safe for concurrent use.
type StreamDecoder struct {
	t           *Tokenizer
	st          decodeState
	pending     []byte
	skipSpecial bool
}

// NewStreamDecoder returns a decoder at the start of a text. skipSpecial
// drops the text of special tokens (HF's skip_special_tokens).
func (t *Tokenizer) NewStreamDecoder(skipSpecial bool) *StreamDecoder {
	return &StreamDecoder{t: t, st: newDecodeState(), skipSpecial: skipSpecial}
}

// Add decodes one id and returns the text it completes (possibly ""). An id
// outside the vocabulary is an error and adds nothing; decoding continues
// with the next id.
func (d *StreamDecoder) Add(id int) (string, error) {
	var err error
	if d.pending, err = d.t.appendToken(d.pending, id, &d.st, d.skipSpecial); err != nil {
		return "", err
	}
	cut := completeUTF8(d.pending)
	out := validText(d.pending[:cut])
	d.pending = append(d.pending[:0], d.pending[cut:]...)
	return out, nil
}

// Flush returns the held-back bytes (each as U+FFFD: they never formed a
// character) and empties the decoder's buffer.
func (d *StreamDecoder) Flush() string {
	out := validText(d.pending)
	d.pending = d.pending[:0]
	return out
}

// completeUTF8 returns the length of the longest prefix of b that does not
// end inside a UTF-8 character that later bytes could still complete.
func completeUTF8(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax+1; i-- {
		c := b[i]
		if c < utf8.RuneSelf {
			break
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[i:]) {
				return i
			}
			break
		}
	}
	return len(b)
}

// validText converts b to a string, each byte that is not part of a valid
// UTF-8 encoding becoming U+FFFD.
func validText(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]rune, 0, len(b))
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		out = append(out, r) // RuneError for an invalid byte (n == 1)
		b = b[n:]
	}
	return string(out)
}

// StoredChatTemplate returns the Jinja chat template stored with the vocabulary:
// a GGUF file's tokenizer.chat_template or the chat_template string of the
// tokenizer_config.json read beside a tokenizer.json ("" when none).
func (t *Tokenizer) StoredChatTemplate() string { return t.chatTemplate }
