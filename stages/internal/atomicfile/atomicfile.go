// Package atomicfile writes a file under a temporary name in its target
// folder and renames it into place, so readers never see a partial file and
// a failed write leaves the previous file, if any, untouched.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write creates path, mode 0644, from what write puts into the temporary
// file. On any error the temporary file is removed and path is unchanged.
// write may call f.Sync when the content must be durable before the rename.
func Write(path string, write func(f *os.File) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	err = write(f)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// WriteBytes writes b to path with Write.
func WriteBytes(path string, b []byte) error {
	return Write(path, func(f *os.File) error {
		_, err := f.Write(b)
		return err
	})
}
