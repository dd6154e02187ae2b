//go:build unix

package train

import (
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// A data path that is a FIFO is refused at once instead of waiting for a
// writer.
func TestLoadDatasetRefusesFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "data.jsonl")
	require.NoError(t, syscall.Mkfifo(p, 0o600))
	_, err := LoadDataset(p, DataOptions{})
	require.ErrorContains(t, err, "not a regular file")
}
