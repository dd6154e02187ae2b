package config

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzParse feeds arbitrary bytes to Parse. Properties: no panic; every
// error wraps ErrInvalid; an accepted config validates, and marshalling it
// and parsing the result gives the same config back. Seeds live in
// testdata/fuzz/FuzzParse (the six golden configs and broken variants).
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"model_type":"llama"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			require.True(t, errors.Is(err, ErrInvalid), "error does not wrap ErrInvalid: %v", err)
			require.Nil(t, m)
			return
		}
		var v any
		n := 0
		if m.Llama != nil {
			v, n = m.Llama, n+1
			require.NoError(t, m.Llama.Validate())
		}
		if m.CLIPVision != nil {
			v, n = m.CLIPVision, n+1
			require.NoError(t, m.CLIPVision.Validate())
		}
		if m.Llava != nil {
			v, n = m.Llava, n+1
			require.NoError(t, m.Llava.Validate())
		}
		if m.Mllama != nil {
			v, n = m.Mllama, n+1
			require.NoError(t, m.Mllama.Validate())
		}
		require.Equal(t, 1, n, "exactly one config must be set")
		b, err := json.Marshal(v)
		require.NoError(t, err)
		m2, err := Parse(b)
		require.NoError(t, err, "re-parsing %s", b)
		require.Equal(t, m, m2)
	})
}
