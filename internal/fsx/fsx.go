package fsx

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ErrNotRegular is wrapped by the errors for paths that exist but are not
// regular files (or, for Stat, directories).
var ErrNotRegular = errors.New("not a regular file")

// checkMode refuses anything but a regular file.
func checkMode(path string, m fs.FileMode) error {
	if !m.IsRegular() {
		return fmt.Errorf("%s: %w (mode %v)", path, ErrNotRegular, m.Type())
	}
	return nil
}

// Stat is os.Stat that refuses what is neither a regular file nor a
// directory. Missing files keep fs.ErrNotExist.
func Stat(path string) (fs.FileInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w or directory (mode %v)", path, ErrNotRegular, st.Mode().Type())
	}
	return st, nil
}

// Open opens a regular file for reading; special files are refused
// without blocking.
func Open(path string) (*os.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := checkMode(path, st.Mode()); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|openNonBlock, 0)
	if err != nil {
		return nil, err
	}
	st, err = f.Stat()
	if err == nil {
		err = checkMode(path, st.Mode())
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// ReadFile reads a whole regular file of at most limit bytes.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, over the %d-byte limit", path, st.Size(), limit)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than the %d-byte limit", path, limit)
	}
	return data, nil
}
