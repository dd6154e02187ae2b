//go:build unix

package fsx

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// withTimeout fails the test if fn blocks (a FIFO open would).
func withTimeout(t *testing.T, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("blocked for 5 s")
		return nil
	}
}

func TestOpenRefusesFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.json")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skipf("no mkfifo: %v", err)
	}
	err := withTimeout(t, func() error { _, err := ReadFile(p, 100); return err })
	if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), p) {
		t.Fatalf("ReadFile(FIFO) = %v, want ErrNotRegular naming the file", err)
	}
	if _, err := Stat(p); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("Stat(FIFO) = %v", err)
	}
}

func TestReadFileRefusesDevicesAndLargeFiles(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "tokenizer.json")
	if err := os.Symlink("/dev/zero", link); err != nil {
		t.Skip(err)
	}
	if _, err := ReadFile(link, 1<<20); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("ReadFile(/dev/zero link) = %v, want ErrNotRegular", err)
	}
	big := filepath.Join(dir, "big.json")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(3 << 30); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	f.Close()
	_, err = ReadFile(big, 16<<20)
	if err == nil || !strings.Contains(err.Error(), "16777216-byte limit") || !strings.Contains(err.Error(), big) {
		t.Fatalf("ReadFile(3 GiB) = %v, want the limit and the file named", err)
	}
	small := filepath.Join(dir, "ok.json")
	os.WriteFile(small, []byte("{}"), 0o600)
	if b, err := ReadFile(small, 2); err != nil || string(b) != "{}" {
		t.Fatalf("ReadFile(ok) = %q, %v", b, err)
	}
	if _, err := ReadFile(filepath.Join(dir, "none"), 2); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if st, err := Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("Stat(dir) = %v", err)
	}
}
