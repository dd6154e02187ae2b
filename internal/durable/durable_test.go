package durable

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWriteFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(p, []byte("a longer old content"), 0o600))
	require.NoError(t, WriteFile(p, []byte("new")))
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "new", string(got), "an existing file is truncated")
	require.Error(t, WriteFile(filepath.Join(t.TempDir(), "missing", "f"), nil), "a missing folder is an error")
}
