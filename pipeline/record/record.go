// Package record persists the engine's results: the run index (cache key ->
// result), each stage's committed result, and stored input manifests. Every
// file is written to a temporary name, fsynced and renamed, so a crash never
// leaves a partial record under its final name.
package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nnrunner/nnrunner/pipeline/cachekey"
	"github.com/nnrunner/nnrunner/pipeline/hashing"
	"github.com/nnrunner/nnrunner/pipeline/workspace"
)

// ErrNotFound is wrapped by lookups of absent records.
var ErrNotFound = errors.New("no such record")

// Output is one committed output of a result.
type Output struct {
	// Path is relative to the stage's output directory.
	Path string `json:"path"`
	// Digest is the Merkle root of the output's content.
	Digest hashing.Digest `json:"digest"`
	Size   int64          `json:"size"`
}

// Result is what one successful run produced, indexed by its cache key.
type Result struct {
	Key        hashing.Digest      `json:"key"`
	Stage      string              `json:"stage"`
	Components cachekey.Components `json:"components"`
	// Tree is the store manifest of the whole output directory.
	Tree      hashing.Digest    `json:"tree"`
	Outputs   map[string]Output `json:"outputs"`
	Started   time.Time         `json:"started"`
	Duration  float64           `json:"duration_s"`
	Host      string            `json:"host"`
	Seed      any               `json:"seed,omitempty"`
	LogDigest hashing.Digest    `json:"log_digest"`
	Attempts  int               `json:"attempts"`
	Resumed   bool              `json:"resumed"`
	Runner    string            `json:"runner_version"`
}

// Committed is a stage's current result: what its out/ directory holds.
type Committed struct {
	Result
	CommittedAt time.Time `json:"committed_at"`
	// Restored is true when the outputs came from the store rather than a
	// fresh run.
	Restored bool `json:"restored"`
}

// DB reads and writes the records of one workspace.
type DB struct {
	l workspace.Layout
}

// Open returns the records of the workspace with layout l.
func Open(l workspace.Layout) *DB { return &DB{l: l} }

func (db *DB) indexPath(key hashing.Digest) string {
	return filepath.Join(db.l.IndexDir(), key.String()+".json")
}

// Result returns the indexed result of key.
func (db *DB) Result(key hashing.Digest) (*Result, error) {
	var r Result
	if err := readJSON(db.indexPath(key), &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// PutResult indexes r under r.Key.
func (db *DB) PutResult(r *Result) error {
	return writeJSON(db.indexPath(r.Key), r)
}

// DeleteResult removes key's result from the index.
func (db *DB) DeleteResult(key hashing.Digest) error {
	if err := os.Remove(db.indexPath(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete result %s: %w", key, err)
	}
	return nil
}

// Results returns every indexed result.
func (db *DB) Results() ([]*Result, error) {
	entries, err := os.ReadDir(db.l.IndexDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read run index: %w", err)
	}
	var out []*Result
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		var r Result
		if err := readJSON(filepath.Join(db.l.IndexDir(), e.Name()), &r); err != nil {
			return nil, err
		}
		out = append(out, &r)
	}
	return out, nil
}

// Committed returns stage id's committed result.
func (db *DB) Committed(id string) (*Committed, error) {
	var c Committed
	if err := readJSON(db.l.State(id), &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// PutCommitted records c as stage id's committed result. It is the last
// step of a commit.
func (db *DB) PutCommitted(id string, c *Committed) error {
	return writeJSON(db.l.State(id), c)
}

// DeleteCommitted forgets stage id's committed result.
func (db *DB) DeleteCommitted(id string) error {
	if err := os.Remove(db.l.State(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete state of %s: %w", id, err)
	}
	return nil
}

// CommittedStages returns the ids of every stage with a committed result.
func (db *DB) CommittedStages() ([]string, error) {
	entries, err := os.ReadDir(db.l.StateDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state dir: %w", err)
	}
	var out []string
	for _, e := range entries {
		if id, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			out = append(out, id)
		}
	}
	return out, nil
}

func (db *DB) inputPath(root hashing.Digest) string {
	return filepath.Join(db.l.InputsDir(), root.String())
}

// PutInputManifest keeps m (an input's manifest) for later diffs.
func (db *DB) PutInputManifest(m *hashing.Manifest) error {
	p := db.inputPath(m.Root())
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	text, err := m.MarshalText()
	if err != nil {
		return fmt.Errorf("store input manifest: %w", err)
	}
	return writeFile(p, text)
}

// InputManifest returns the stored input manifest with the given root.
func (db *DB) InputManifest(root hashing.Digest) (*hashing.Manifest, error) {
	text, err := os.ReadFile(db.inputPath(root))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("input manifest %s: %w", root, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var m hashing.Manifest
	if err := m.UnmarshalText(text); err != nil {
		return nil, fmt.Errorf("input manifest %s: %w", root, err)
	}
	return &m, nil
}

// InputManifests returns the roots of every stored input manifest.
func (db *DB) InputManifests() ([]hashing.Digest, error) {
	entries, err := os.ReadDir(db.l.InputsDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []hashing.Digest
	for _, e := range entries {
		if d, err := hashing.ParseDigest(e.Name()); err == nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// DeleteInputManifest removes a stored input manifest.
func (db *DB) DeleteInputManifest(root hashing.Digest) error {
	if err := os.Remove(db.inputPath(root)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// RemoveTemp deletes temporary files that a crash left behind in the
// record folders; it must run with the workspace lock held.
func (db *DB) RemoveTemp() (int, error) {
	n := 0
	for _, dir := range []string{db.l.IndexDir(), db.l.StateDir(), db.l.InputsDir()} {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return n, err
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), ".tmp-") {
				if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return n, err
				}
				n++
			}
		}
	}
	return n, nil
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", path, ErrNotFound)
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("read %s: %w (delete the file to forget this record)", path, err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return writeFile(path, append(data, '\n'))
}

// writeFile writes data to path atomically and durably.
func writeFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a directory so renames inside it are durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
