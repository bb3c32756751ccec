// Package durable writes files that survive a crash: written to a temporary
// name, fsynced, renamed into place, and the directory fsynced, so a reader
// sees the old content or the new one, never a torn file.
package durable

import (
	"os"
	"path/filepath"
)

// WriteFile replaces path with data; tmp is a path on the same file system
// for the intermediate file ("" puts it beside path).
func WriteFile(path, tmp string, data []byte) error {
	if tmp == "" {
		tmp = path + ".tmp"
	}
	if err := SyncFile(tmp, data); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncFile writes data to path and fsyncs it (no rename).
func SyncFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// SyncDir fsyncs a directory, making renames and creations in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
