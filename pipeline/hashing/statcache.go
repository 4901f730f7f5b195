package hashing

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// statCacheMagic starts a stat cache file; a file without it (or with a bad
// checksum) is ignored and the cache rebuilt.
const statCacheMagic = "NNRSTC01"

// statCacheExpiry drops records of files not seen for this long, so the
// cache does not grow forever with deleted files.
const statCacheExpiry = 30 * 24 * time.Hour

const statRecordSize = 8 + 8 + 8 + 8 + 8 + 8 + 32 // dev ino size mtime ctime day digest

// statRecord is the remembered digest of one version of a file.
type statRecord struct {
	size    int64
	mtimeNs int64
	ctimeNs int64
	day     int64 // unix day the record was last used, for expiry
	digest  Digest
}

// statCache maps files, by device and inode, to the digest of their
// content at a given size, mtime and ctime. It is safe for concurrent use.
type statCache struct {
	mu    sync.RWMutex
	recs  map[fileID]statRecord
	dirty bool
}

func newStatCache() *statCache {
	return &statCache{recs: make(map[fileID]statRecord)}
}

// lookup returns the remembered digest of the file version st, if any.
func (c *statCache) lookup(st fileStat, today int64) (Digest, bool) {
	c.mu.RLock()
	r, ok := c.recs[st.id]
	c.mu.RUnlock()
	if !ok || r.size != st.size || r.mtimeNs != st.mtimeNs || r.ctimeNs != st.ctimeNs {
		return Digest{}, false
	}
	if r.day != today {
		c.mu.Lock()
		r.day = today
		c.recs[st.id] = r
		c.dirty = true
		c.mu.Unlock()
	}
	return r.digest, true
}

// store remembers the digest of the file version st.
func (c *statCache) store(st fileStat, d Digest, today int64) {
	c.mu.Lock()
	c.recs[st.id] = statRecord{size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, day: today, digest: d}
	c.dirty = true
	c.mu.Unlock()
}

// decodeStatCache parses a stat cache file. It reports false for anything
// that is not an intact cache file, which the caller then ignores.
func decodeStatCache(b []byte) (map[fileID]statRecord, bool) {
	const head = len(statCacheMagic) + 8
	if len(b) < head+len(Digest{}) || string(b[:len(statCacheMagic)]) != statCacheMagic {
		return nil, false
	}
	body, sum := b[:len(b)-len(Digest{})], b[len(b)-len(Digest{}):]
	if Sum(body) != Digest(sum) {
		return nil, false
	}
	n := binary.LittleEndian.Uint64(b[len(statCacheMagic):head])
	recs := body[head:]
	if uint64(len(recs)) != n*statRecordSize {
		return nil, false
	}
	m := make(map[fileID]statRecord, n)
	le := binary.LittleEndian
	for p := recs; len(p) > 0; p = p[statRecordSize:] {
		id := fileID{dev: le.Uint64(p[0:]), ino: le.Uint64(p[8:])}
		r := statRecord{
			size:    int64(le.Uint64(p[16:])),
			mtimeNs: int64(le.Uint64(p[24:])),
			ctimeNs: int64(le.Uint64(p[32:])),
			day:     int64(le.Uint64(p[40:])),
		}
		copy(r.digest[:], p[48:80])
		m[id] = r
	}
	return m, true
}

func encodeStatCache(recs map[fileID]statRecord) []byte {
	b := make([]byte, 0, len(statCacheMagic)+8+len(recs)*statRecordSize+len(Digest{}))
	b = append(b, statCacheMagic...)
	le := binary.LittleEndian
	b = le.AppendUint64(b, uint64(len(recs)))
	ids := slices.SortedFunc(maps.Keys(recs), func(a, b fileID) int {
		return cmp.Or(cmp.Compare(a.dev, b.dev), cmp.Compare(a.ino, b.ino))
	})
	for _, id := range ids {
		r := recs[id]
		b = le.AppendUint64(b, id.dev)
		b = le.AppendUint64(b, id.ino)
		b = le.AppendUint64(b, uint64(r.size))
		b = le.AppendUint64(b, uint64(r.mtimeNs))
		b = le.AppendUint64(b, uint64(r.ctimeNs))
		b = le.AppendUint64(b, uint64(r.day))
		b = append(b, r.digest[:]...)
	}
	sum := Sum(b)
	return append(b, sum[:]...)
}

// loadStatCache reads the cache at path. A missing, corrupt or foreign
// file yields an empty cache and ok=false; only I/O errors other than a
// missing file are returned.
func loadStatCache(path string) (*statCache, bool, error) {
	c := newStatCache()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read stat cache: %w", err)
	}
	recs, ok := decodeStatCache(b)
	if ok {
		c.recs = recs
	}
	return c, ok, nil
}

// save merges the cache with the file at path (another process may have
// saved since we loaded: its records of files we did not see are kept) and
// replaces the file by renaming a temporary file over it, so a concurrent
// reader sees the old or the new cache, never a mix. Savers take turns
// through an advisory lock on path+".lock", so no merge is lost. The cache
// is only an accelerator: no fsync; a lost or torn file is rebuilt.
func (c *statCache) save(path string, today int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dirty {
		return nil
	}
	expiry := today - int64(statCacheExpiry/(24*time.Hour))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("save stat cache: %w", err)
	}
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return fmt.Errorf("save stat cache: %w", err)
	}
	defer unlock()
	if b, err := os.ReadFile(path); err == nil {
		if disk, ok := decodeStatCache(b); ok {
			for id, r := range disk {
				if _, have := c.recs[id]; !have && r.day >= expiry {
					c.recs[id] = r
				}
			}
		}
	}
	for id, r := range c.recs {
		if r.day < expiry {
			delete(c.recs, id)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("save stat cache: %w", err)
	}
	_, werr := bytes.NewReader(encodeStatCache(c.recs)).WriteTo(tmp)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("save stat cache %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("save stat cache: %w", err)
	}
	c.dirty = false
	return nil
}
