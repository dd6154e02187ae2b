package decoder

import (
	"context"
)

// ForwardContext is Forward that checks ctx between layers, so a long
// prefill stops soon after ctx is done. After such an error st is spoiled
// (the earlier layers' caches hold the new positions): discard it.
func (m *Model) ForwardContext(ctx context.Context, b Backend, embeds Value, st *State) (Value, error) {
	h, err := m.run(ctx, b, embeds, st, nil)
	if err != nil {
		return nil, err
	}
	return m.Logits(b, h), nil // [B, T, V]
}

// HiddenContext is Hidden that checks ctx between layers (see
// ForwardContext).
func (m *Model) HiddenContext(ctx context.Context, b Backend, embeds Value, st *State) (Value, error) {
	return m.run(ctx, b, embeds, st, nil)
}
