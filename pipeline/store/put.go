package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/nnrunner/nnrunner/pipeline/hashing"
	"github.com/zeebo/blake3"
	"golang.org/x/sys/unix"
)

// copyBufSize is the buffer size for copying blobs in and out.
const copyBufSize = 256 << 10

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// Put ingests the tree at dir, already hashed as m, into the store and
// returns the manifest's id, m.Root(). Each file's content is stored once:
// a file with a single link is hardlinked into the store (and made
// read-only, as the blob it now is); otherwise, or across file systems, it
// is copied, re-hashed while copying and fsynced before its rename. The
// manifest is written last, after a syncfs, so it is present (even after a
// power loss) only when all its blobs are. A file that no longer
// matches m is an error: the tree changed after it was hashed.
func (s *Store) Put(ctx context.Context, dir string, m *hashing.Manifest) (hashing.Digest, error) {
	if err := m.Validate(); err != nil {
		return hashing.Digest{}, fmt.Errorf("put %s: %w", dir, err)
	}
	id := m.Root()
	// No shortcut when the manifest is already stored: one of its blobs may
	// have been removed as corrupt since, and this Put must restore it.
	dirs := &dirCheck{root: dir}
	err := s.forEach(ctx, len(m.Entries), func(i int) error {
		e := m.Entries[i]
		if err := dirs.check(path.Dir(e.Path)); err != nil {
			return err
		}
		return s.putEntry(dir, e)
	})
	if err != nil {
		return hashing.Digest{}, err
	}
	// One syncfs makes every blob just linked or renamed (and the content
	// of hardlinked files) durable before the manifest that names them
	// appears: far cheaper than an fsync per fan-out directory.
	if err := syncFS(s.dir); err != nil {
		return hashing.Digest{}, fmt.Errorf("put %s: %w", dir, err)
	}
	text, err := m.MarshalText()
	if err != nil {
		return hashing.Digest{}, fmt.Errorf("put %s: %w", dir, err)
	}
	if err := s.writeObject(s.manifestPath(id), text, blobMode); err != nil {
		return hashing.Digest{}, fmt.Errorf("put %s: %w", dir, err)
	}
	if err := syncDir(filepath.Dir(s.manifestPath(id))); err != nil {
		return hashing.Digest{}, fmt.Errorf("put %s: %w", dir, err)
	}
	return id, nil
}

// dirCheck verifies, once per directory, that the parent directories of
// the entries being stored are real directories and not symlinks: a tree
// changed after hashing must not make Put link (and chmod) a file outside
// it.
type dirCheck struct {
	root string
	ok   sync.Map // slash-separated dir -> struct{}
}

func (c *dirCheck) check(rel string) error {
	if rel == "." || rel == "" {
		return nil
	}
	if _, ok := c.ok.Load(rel); ok {
		return nil
	}
	if err := c.check(path.Dir(rel)); err != nil {
		return err
	}
	p := entryPath(c.root, rel)
	fi, err := os.Lstat(p)
	if err != nil {
		return fmt.Errorf("put: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("put %s: no longer a directory (now %s) since the tree was hashed", p, fi.Mode().Type())
	}
	c.ok.Store(rel, struct{}{})
	return nil
}

// entryPath returns the file path of manifest entry rel under root.
func entryPath(root, rel string) string {
	if rel == "" {
		return root
	}
	return filepath.Join(root, filepath.FromSlash(rel))
}

func (s *Store) putEntry(root string, e hashing.Entry) error {
	src := entryPath(root, e.Path)
	switch e.Kind {
	case hashing.Dir:
		return nil
	case hashing.Symlink:
		dst := s.blobPath(e.Digest, false)
		if exists(dst) {
			return nil
		}
		target, err := os.Readlink(src)
		if err != nil {
			return fmt.Errorf("put: %w", err)
		}
		if hashing.Sum([]byte(target)) != e.Digest {
			return fmt.Errorf("put %s: symlink changed since it was hashed", src)
		}
		return s.writeObject(dst, []byte(target), blobMode)
	}
	exec := e.Mode == hashing.ModeExec
	mode := blobMode
	if exec {
		mode = blobExecMode
	}
	// The file is checked even when its blob is already stored (another
	// entry or tree with the same content), so a tree changed since hashing
	// is refused whatever order the entries are stored in.
	fi, err := os.Lstat(src)
	if err != nil {
		return fmt.Errorf("put: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Size() != e.Size {
		return fmt.Errorf("put %s: file changed since it was hashed", src)
	}
	dst := s.blobPath(e.Digest, exec)
	if exists(dst) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink == 1 {
		if err := os.Chmod(src, mode); err != nil {
			return fmt.Errorf("put: %w", err)
		}
		err := os.Link(src, dst)
		if err == nil || errors.Is(err, fs.ErrExist) {
			return nil
		}
		// Other file system, or links unsupported: copy instead.
	}
	return s.copyIn(src, dst, e.Digest, mode)
}

// copyIn copies src to the blob dst, checking that the copied bytes hash
// to want.
func (s *Store) copyIn(src, dst string, want hashing.Digest, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("put: %w", err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Join(s.dir, tmpDir), "blob-*")
	if err != nil {
		return fmt.Errorf("put %s: %w", src, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	got, err := copyHashing(tmp, in)
	if err == nil && got != want {
		err = fmt.Errorf("file changed since it was hashed")
	}
	if err == nil {
		err = finishTemp(tmp, mode)
	} else {
		tmp.Close()
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		return fmt.Errorf("put %s: %w", src, err)
	}
	return nil
}

// copyHashing copies r to w and returns the digest of the bytes copied.
func copyHashing(w io.Writer, r io.Reader) (hashing.Digest, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	h := blake3.New()
	var d hashing.Digest
	if _, err := io.CopyBuffer(io.MultiWriter(w, h), r, *bp); err != nil {
		return d, err
	}
	h.Sum(d[:0])
	return d, nil
}

// writeObject writes data to path via a temporary file, fsync and rename.
func (s *Store) writeObject(path string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, tmpDir), "obj-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := finishTemp(tmp, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}

// finishTemp makes a written temporary file durable and sets its mode.
func finishTemp(f *os.File, mode fs.FileMode) error {
	err := f.Sync()
	if err == nil {
		err = f.Chmod(mode)
	}
	return errors.Join(err, f.Close())
}

// syncFS flushes the file system holding path (syncfs(2)), so all links,
// renames and file data written so far survive a power loss.
func syncFS(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	err = unix.Syncfs(int(d.Fd()))
	if err != nil {
		err = fmt.Errorf("syncfs %s: %w", path, err)
	}
	return errors.Join(err, d.Close())
}

// syncDir fsyncs a directory so renames into it survive a power loss.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// forEach calls fn(0..n-1) on up to s.workers goroutines and returns the
// first error; after an error or cancellation no new calls start.
func (s *Store) forEach(ctx context.Context, n int, fn func(i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range min(s.workers, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
