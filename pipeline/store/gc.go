package store

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/nnrunner/nnrunner/pipeline/hashing"
)

// GCStats reports what GC removed.
type GCStats struct {
	ManifestsKept    int
	ManifestsRemoved int // unkept or corrupt manifests
	BlobsRemoved     int
	BytesFreed       int64 // sizes of removed blobs not hardlinked elsewhere
}

// GC deletes every manifest not in keep (and any corrupt one), every blob
// no kept manifest references, and leftovers of interrupted writes. It
// must not run concurrently with Put or Materialize on the same store.
func (s *Store) GC(ctx context.Context, keep []hashing.Digest) (GCStats, error) {
	var stats GCStats
	kept := make(map[hashing.Digest]bool, len(keep))
	for _, id := range keep {
		kept[id] = true
	}
	type blobRef struct {
		d    hashing.Digest
		exec bool
	}
	live := make(map[blobRef]bool)
	err := s.eachObject(ctx, manifestsDir, func(path string, id hashing.Digest, suffix string) error {
		if suffix == "" && kept[id] {
			if m, err := s.Manifest(id); err == nil {
				stats.ManifestsKept++
				for _, e := range m.Entries {
					switch e.Kind {
					case hashing.File:
						live[blobRef{e.Digest, e.Mode == hashing.ModeExec}] = true
					case hashing.Symlink:
						live[blobRef{e.Digest, false}] = true
					}
				}
				return nil
			}
		}
		stats.ManifestsRemoved++
		return os.Remove(path)
	})
	if err != nil {
		return stats, fmt.Errorf("gc: %w", err)
	}
	err = s.eachObject(ctx, blobsDir, func(path string, d hashing.Digest, suffix string) error {
		if live[blobRef{d, suffix == ".x"}] {
			return nil
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		if err := os.Remove(path); err != nil {
			return err
		}
		stats.BlobsRemoved++
		if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Nlink == 1 {
			stats.BytesFreed += fi.Size()
		}
		return nil
	})
	if err != nil {
		return stats, fmt.Errorf("gc: %w", err)
	}
	tmps, err := os.ReadDir(filepath.Join(s.dir, tmpDir))
	if err != nil {
		return stats, fmt.Errorf("gc: %w", err)
	}
	for _, de := range tmps {
		if err := os.RemoveAll(filepath.Join(s.dir, tmpDir, de.Name())); err != nil {
			return stats, fmt.Errorf("gc: %w", err)
		}
	}
	return stats, nil
}

// eachObject calls fn for every object file in the top-level directory
// kind whose name is a digest with an optional suffix ("" or ".x"); other
// files are left alone.
func (s *Store) eachObject(ctx context.Context, kind string, fn func(path string, d hashing.Digest, suffix string) error) error {
	top := filepath.Join(s.dir, kind)
	fans, err := os.ReadDir(top)
	if err != nil {
		return err
	}
	for _, fan := range fans {
		if !fan.IsDir() {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		objs, err := os.ReadDir(filepath.Join(top, fan.Name()))
		if err != nil {
			return err
		}
		for _, o := range objs {
			name, suffix := o.Name(), ""
			if base, ok := strings.CutSuffix(name, ".x"); ok && kind == blobsDir {
				name, suffix = base, ".x"
			}
			d, err := hashing.ParseDigest(name)
			if err != nil || !strings.HasPrefix(name, fan.Name()) {
				continue
			}
			if err := fn(filepath.Join(top, fan.Name(), o.Name()), d, suffix); err != nil {
				return err
			}
		}
	}
	return nil
}

// Size returns the total size in bytes of the store's blobs and manifests.
func (s *Store) Size() (int64, error) {
	var total int64
	for _, kind := range []string{blobsDir, manifestsDir} {
		err := filepath.WalkDir(filepath.Join(s.dir, kind), func(_ string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			total += fi.Size()
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("store size: %w", err)
		}
	}
	return total, nil
}
