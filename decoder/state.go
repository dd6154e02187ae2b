package decoder

import "fmt"

// Truncate drops every position from n on, so that the next Forward
// continues at position n (a conversation that shares its first n tokens
// with what st has run). Layer states with a Truncate method (KV caches)
// are cut; the others (cross-attention image keys and values) do not
// depend on positions and are kept.
func (s *State) Truncate(n int) error {
	if n < 0 || n > s.pos {
		return fmt.Errorf("decoder: cannot truncate a state of %d positions to %d", s.pos, n)
	}
	for _, ls := range s.Layers {
		if t, ok := ls.(interface{ Truncate(int) }); ok {
			t.Truncate(n)
		}
	}
	s.pos = n
	return nil
}
