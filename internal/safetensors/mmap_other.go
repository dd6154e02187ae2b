//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package safetensors

import (
	"fmt"
	"io"
	"os"
)

// mapFile reads the whole of f into memory: the portable fallback for
// platforms without syscall.Mmap.
func mapFile(f *os.File, size int) ([]byte, func() error, error) {
	data := make([]byte, size)
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, nil, fmt.Errorf("safetensors: read %s: %w", f.Name(), err)
	}
	return data, func() error { return nil }, nil
}

// syncDir is a no-op where directories cannot be opened for fsync.
func syncDir(string) error { return nil }
