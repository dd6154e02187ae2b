package tokenizer

import (
	"math/bits"
	"math/rand/v2"
)

// substringHasher answers "is s[i:j] a vocabulary piece, and which?" in
// O(1) per query after O(len(s)) preparation, with a polynomial rolling
// hash modulo the Mersenne prime 2⁶¹−1 and a random base (a hash collision
// needs an input chosen for that base, which an attacker cannot know).
// It makes building SentencePiece merges from scores linear in the total
// length of the pieces: checking every split of a piece by hashing both
// halves was quadratic in the piece's length.
type substringHasher struct {
	base  uint64
	index map[hashKey]int32 // (hash, length) of each piece -> its id
	pre   []uint64          // pre[i] = hash(s[:i]) of the prepared string
	pow   []uint64          // pow[k] = base^k
}

type hashKey struct {
	h uint64
	n int
}

const mersenne61 = 1<<61 - 1

func mulMod61(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	// a·b = hi·2⁶⁴ + lo; 2⁶⁴ ≡ 2³ (mod 2⁶¹−1).
	r := (lo & mersenne61) + (lo >> 61) + (hi << 3)
	for r >= mersenne61 {
		r -= mersenne61
	}
	return r
}

func addMod61(a, b uint64) uint64 {
	r := a + b
	if r >= mersenne61 {
		r -= mersenne61
	}
	return r
}

// newSubstringHasher indexes every piece of ids.
func newSubstringHasher(ids map[string]int32) *substringHasher {
	h := &substringHasher{base: rand.Uint64N(mersenne61-256) + 256, index: make(map[hashKey]int32, len(ids))}
	for s, id := range ids {
		h.index[hashKey{h.hash(s), len(s)}] = id
	}
	return h
}

// hash is the polynomial hash of s.
func (h *substringHasher) hash(s string) uint64 {
	var v uint64
	for i := 0; i < len(s); i++ {
		v = addMod61(mulMod61(v, h.base), uint64(s[i])+1)
	}
	return v
}

// prepare computes the prefix hashes of s.
func (h *substringHasher) prepare(s string) {
	h.pre = append(h.pre[:0], 0)
	if len(h.pow) == 0 {
		h.pow = append(h.pow, 1)
	}
	for i := 0; i < len(s); i++ {
		h.pre = append(h.pre, addMod61(mulMod61(h.pre[i], h.base), uint64(s[i])+1))
	}
	for len(h.pow) <= len(s) {
		h.pow = append(h.pow, mulMod61(h.pow[len(h.pow)-1], h.base))
	}
}

// lookup returns the id of the piece s[i:j] of the prepared s.
func (h *substringHasher) lookup(i, j int) (int32, bool) {
	v := addMod61(h.pre[j], mersenne61-mulMod61(h.pre[i], h.pow[j-i]))
	id, ok := h.index[hashKey{v, j - i}]
	return id, ok
}
