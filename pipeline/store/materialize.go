package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nnrunner/nnrunner/pipeline/hashing"
)

// Materialize recreates the tree of manifest id at dst, which must not
// exist. Every blob it uses is re-hashed; a blob that no longer matches its
// digest is removed from the store and yields an error wrapping ErrCorrupt
// that names it (the caller re-runs the stage, whose Put stores it afresh);
// a missing blob yields an error wrapping ErrNotFound. Files are hardlinked
// from the store when possible, else copied, and are read-only either way.
// The tree is built in a temporary directory next to dst (".<name>.tmp-*",
// left behind only if the process dies), flushed to disk and renamed into
// place, so dst appears complete or not at all.
func (s *Store) Materialize(ctx context.Context, id hashing.Digest, dst string) error {
	m, err := s.Manifest(id)
	if err != nil {
		return fmt.Errorf("materialize %s: %w", dst, err)
	}
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("materialize %s: destination already exists; remove it first", dst)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("materialize: %w", err)
	}
	parent := filepath.Dir(dst)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("materialize: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dst)+".tmp-")
	if err != nil {
		return fmt.Errorf("materialize: %w", err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("materialize: %w", err)
	}
	singleFile := len(m.Entries) == 1 && m.Entries[0].Path == "" && m.Entries[0].Kind == hashing.File
	root := tmp
	if singleFile {
		root = filepath.Join(tmp, "file")
	}
	err = s.forEach(ctx, len(m.Entries), func(i int) error {
		return s.materializeEntry(m.Entries[i], entryPath(root, m.Entries[i].Path))
	})
	if err != nil {
		return fmt.Errorf("materialize %s: %w", dst, err)
	}
	// Make the whole tree durable before it appears under its name.
	if err := syncFS(tmp); err != nil {
		return fmt.Errorf("materialize %s: %w", dst, err)
	}
	if singleFile {
		err = os.Rename(root, dst)
	} else {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		return fmt.Errorf("materialize: %w", err)
	}
	done = true
	if singleFile {
		if err := os.Remove(tmp); err != nil {
			return fmt.Errorf("materialize %s: %w", dst, err)
		}
	}
	if err := syncDir(parent); err != nil {
		return fmt.Errorf("materialize %s: %w", dst, err)
	}
	return nil
}

func (s *Store) materializeEntry(e hashing.Entry, path string) error {
	switch e.Kind {
	case hashing.Dir:
		return os.MkdirAll(path, 0o755)
	case hashing.Symlink:
		blob := s.blobPath(e.Digest, false)
		target, err := os.ReadFile(blob)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("blob %s for %q: %w", blob, e.Path, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if hashing.Sum(target) != e.Digest {
			return corrupt(blob, e, hashing.Sum(target))
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		return os.Symlink(string(target), path)
	}
	exec := e.Mode == hashing.ModeExec
	mode := blobMode
	if exec {
		mode = blobExecMode
	}
	blob := s.blobPath(e.Digest, exec)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.Link(blob, path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("blob %s for %q: %w", blob, e.Path, ErrNotFound)
		}
		// Other file system, or too many links: copy, verifying as we go.
		return s.copyOut(blob, path, e, mode)
	}
	if err := verifyBlob(blob, e); err != nil {
		return err
	}
	// Repair the mode if someone changed the blob's permissions.
	if fi, err := os.Lstat(path); err == nil && fi.Mode().Perm() != mode {
		return os.Chmod(path, mode)
	}
	return nil
}

// verifyBlob re-hashes blob and checks it against e.
func verifyBlob(blob string, e hashing.Entry) error {
	f, err := os.Open(blob)
	if err != nil {
		return err
	}
	defer f.Close()
	got, err := copyHashing(discard{}, f)
	if err != nil {
		return fmt.Errorf("verify blob %s: %w", blob, err)
	}
	if got != e.Digest {
		return corrupt(blob, e, got)
	}
	return nil
}

// corrupt removes a blob that failed verification, so that storing the
// content again (when the engine re-runs the stage) writes a good blob
// instead of skipping it as present, and returns the ErrCorrupt error.
func corrupt(blob string, e hashing.Entry, got hashing.Digest) error {
	err := fmt.Errorf("blob %s for %q: %w: content hashes to %s (blob removed)", blob, e.Path, ErrCorrupt, got)
	if rerr := os.Remove(blob); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		return fmt.Errorf("%w; removing it: %v", err, rerr)
	}
	return err
}

// copyOut copies blob to path, verifying its digest while copying.
func (s *Store) copyOut(blob, path string, e hashing.Entry, mode fs.FileMode) error {
	in, err := os.Open(blob)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob %s for %q: %w", blob, e.Path, ErrNotFound)
	}
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	got, err := copyHashing(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copy blob %s to %s: %w", blob, path, err)
	}
	if got != e.Digest {
		return corrupt(blob, e, got)
	}
	return nil
}

// discard is an io.Writer that drops what it is given (io.Discard
// implements ReaderFrom, which would bypass copyHashing's buffer).
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
