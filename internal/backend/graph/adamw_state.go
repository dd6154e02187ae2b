package graph

import (
	"fmt"

	ft "github.com/fovea-ml/fovea/internal/tensor"
)

// Moments returns the first and second moments AdamW keeps for t (the
// optimizer's own buffers, not copies), or false before t's first update.
// A trainer saves them in its checkpoints.
func (o *AdamW) Moments(t *ft.Tensor) (m, v []float32, ok bool) {
	m, ok = o.m[t]
	if !ok {
		return nil, nil, false
	}
	return m, o.v[t], true
}

// Restore sets the step count and the moments of each tensor (copied),
// as a resumed run continues a saved optimizer: the next Update is step
// steps+1 with these moments.
func (o *AdamW) Restore(steps int, moments map[*ft.Tensor][2][]float32) error {
	if steps < 0 {
		return fmt.Errorf("adamw: negative step count %d", steps)
	}
	m, v := map[*ft.Tensor][]float32{}, map[*ft.Tensor][]float32{}
	for t, mv := range moments {
		if len(mv[0]) != t.Len() || len(mv[1]) != t.Len() {
			return fmt.Errorf("adamw: moments of %d and %d values for a parameter %v", len(mv[0]), len(mv[1]), t.Shape)
		}
		m[t], v[t] = append([]float32(nil), mv[0]...), append([]float32(nil), mv[1]...)
	}
	o.t, o.m, o.v = steps, m, v
	return nil
}
