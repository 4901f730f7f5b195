// Package workspace fixes the on-disk layout of a runner workspace and owns
// its lock and staging directories.
//
// Layout under the workspace root (default .runner next to the workflow file):
//
//	lock                    workspace lock (flock) with the holder's pid, host, command
//	out/<stage>/...         committed outputs of each stage (read-only)
//	state/<stage>.json      the committed result of each stage (written last)
//	index/<key>.json        run index: cache key -> result record
//	inputs/<digest>.json    manifests of hashed inputs, for `plan --explain` diffs
//	logs/<key>.log          log of the run that produced a result
//	staging/                in-progress runs and restores; leftovers are cleaned
//	store/                  content-addressed blobs and manifests (pipeline/store)
//	statcache               stat cache of the input hasher (pipeline/hashing)
package workspace

import (
	"path/filepath"
)

// Layout resolves the paths inside one workspace.
type Layout struct {
	// Root is the absolute workspace directory.
	Root string
}

// Out returns the directory holding stage id's committed outputs.
func (l Layout) Out(id string) string { return filepath.Join(l.Root, "out", id) }

// OutputPath returns the committed path of a stage output declared at rel
// (slash-separated, relative to the stage's output directory).
func (l Layout) OutputPath(id, rel string) string {
	return filepath.Join(l.Out(id), filepath.FromSlash(rel))
}

// OutRoot returns the directory holding all stages' output directories.
func (l Layout) OutRoot() string { return filepath.Join(l.Root, "out") }

// State returns the path of stage id's committed-result record.
func (l Layout) State(id string) string { return filepath.Join(l.Root, "state", id+".json") }

// StateDir returns the directory of committed-result records.
func (l Layout) StateDir() string { return filepath.Join(l.Root, "state") }

// IndexDir returns the run index directory.
func (l Layout) IndexDir() string { return filepath.Join(l.Root, "index") }

// InputsDir returns the directory of stored input manifests.
func (l Layout) InputsDir() string { return filepath.Join(l.Root, "inputs") }

// LogsDir returns the directory of run logs.
func (l Layout) LogsDir() string { return filepath.Join(l.Root, "logs") }

// StagingDir returns the directory of in-progress runs.
func (l Layout) StagingDir() string { return filepath.Join(l.Root, "staging") }

// StoreDir returns the content-addressed store directory.
func (l Layout) StoreDir() string { return filepath.Join(l.Root, "store") }

// StatCache returns the path of the hasher's stat cache.
func (l Layout) StatCache() string { return filepath.Join(l.Root, "statcache") }

// LockFile returns the path of the workspace lock.
func (l Layout) LockFile() string { return filepath.Join(l.Root, "lock") }
