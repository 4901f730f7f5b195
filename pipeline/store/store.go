// Package store is a content-addressed store of file trees: every file's
// content is kept once as a blob named by its BLAKE3 digest, and every
// tree as a manifest (see package hashing) named by its Merkle root. Blobs
// and manifests are written to a temporary file and renamed into place, so
// a crash never leaves a partial object under its final name; restores
// re-hash every blob, so a damaged store is detected rather than trusted.
package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/nnrunner/nnrunner/pipeline/hashing"
)

// Errors wrapped by the store's methods.
var (
	// ErrNotFound means a manifest or a blob it needs is not in the store.
	ErrNotFound = errors.New("not in store")
	// ErrCorrupt means a stored object no longer matches its digest.
	ErrCorrupt = errors.New("store object corrupt")
)

// Store is a content-addressed store rooted at a directory:
//
//	blobs/ab/abcdef...     file content, read-only (".x" suffix: executable copy)
//	manifests/ab/abcdef... canonical manifest text (hashing.Manifest.MarshalText)
//	tmp/                   objects being written
//
// A Store is safe for concurrent use by goroutines and by processes, except
// GC, which needs exclusive access (callers hold the workspace lock).
type Store struct {
	dir     string
	workers int // goroutines per Put or Materialize (I/O-bound: links, fsyncs)
}

// Layout directories inside the store.
const (
	blobsDir     = "blobs"
	manifestsDir = "manifests"
	tmpDir       = "tmp"
)

// Object permissions. Blobs are read-only so a hardlinked output cannot be
// edited in place by accident (which would corrupt the store).
const (
	blobMode     fs.FileMode = 0o444
	blobExecMode fs.FileMode = 0o555
)

// minWorkers is the least number of goroutines a Put or Materialize uses:
// they mostly wait on file system calls, so more than the CPU count helps
// (Put of 1,000 files on 2 cores: 1.6 s with 2, 1.1 s with 16).
const minWorkers = 16

// Open opens the store in dir, creating its layout if missing.
func Open(dir string) (*Store, error) {
	for _, d := range []string{blobsDir, manifestsDir, tmpDir} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	return &Store{dir: dir, workers: max(minWorkers, runtime.GOMAXPROCS(0))}, nil
}

// Dir returns the store's root directory.
func (s *Store) Dir() string { return s.dir }

// objectPath returns the path of an object named by digest d in the
// top-level directory kind, with an optional name suffix.
func (s *Store) objectPath(kind string, d hashing.Digest, suffix string) string {
	h := d.String()
	return filepath.Join(s.dir, kind, h[:2], h+suffix)
}

// blobPath returns where the content d is stored with the given mode.
func (s *Store) blobPath(d hashing.Digest, exec bool) string {
	if exec {
		return s.objectPath(blobsDir, d, ".x")
	}
	return s.objectPath(blobsDir, d, "")
}

func (s *Store) manifestPath(id hashing.Digest) string {
	return s.objectPath(manifestsDir, id, "")
}

// Manifest returns the stored manifest id. It wraps ErrNotFound if absent
// and ErrCorrupt if the stored text no longer hashes to id.
func (s *Store) Manifest(id hashing.Digest) (*hashing.Manifest, error) {
	p := s.manifestPath(id)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("manifest %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	var m hashing.Manifest
	if err := m.UnmarshalText(b); err != nil {
		return nil, fmt.Errorf("manifest %s (%s): %w: %v", id, p, ErrCorrupt, err)
	}
	if got := m.Root(); got != id {
		return nil, fmt.Errorf("manifest %s (%s): %w: content hashes to %s", id, p, ErrCorrupt, got)
	}
	return &m, nil
}

// Has reports whether manifest id is in the store. Put writes a manifest
// after all its blobs, so a present manifest had all its blobs stored.
func (s *Store) Has(id hashing.Digest) bool {
	_, err := os.Lstat(s.manifestPath(id))
	return err == nil
}
