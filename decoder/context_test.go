package decoder

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/internal/backend"
)

// countdownCtx is a context whose Err turns to Canceled after n calls, so
// a test can cancel in the middle of a layer loop.
type countdownCtx struct {
	context.Context
	n int
}

func (c *countdownCtx) Err() error {
	if c.n <= 0 {
		return context.Canceled
	}
	c.n--
	return nil
}

// TestForwardContextChecksBetweenLayers: cancelling during the prefill
// stops it before the next layer.
func TestForwardContextChecksBetweenLayers(t *testing.T) {
	m, _ := loadTiny(t)
	b := backend.Eager{}
	e, err := m.Embed(b, [][]int{{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := &countdownCtx{Context: context.Background(), n: 2}
	_, err = m.ForwardContext(ctx, b, e, m.NewState(1))
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "before layer 2") {
		t.Fatalf("ForwardContext = %v, want Canceled before layer 2", err)
	}
	if _, err := m.ForwardContext(context.Background(), b, e, m.NewState(1)); err != nil {
		t.Fatal(err)
	}
}
