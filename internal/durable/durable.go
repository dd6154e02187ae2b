// Package durable writes files that survive a crash once written: the
// data is fsynced before the file is closed. The model writer
// (fovea.Model.Save) and the trainer's checkpoints share it.
package durable

import "os"

// WriteFile writes data to path (created or truncated, mode 0644) and
// fsyncs it before closing.
func WriteFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
