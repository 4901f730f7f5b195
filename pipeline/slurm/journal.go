package slurm

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/nnrunner/nnrunner/pipeline/record"
)

// entry is the journal record of a stage's latest Slurm job. It is written
// before sbatch runs (without a job id, so a job whose id was never
// recorded can be found by name) and again with the id right after.
type entry struct {
	Stage   string `json:"stage"`
	Key     string `json:"key"`
	RunID   string `json:"run_id"`
	JobName string `json:"job_name"`
	JobID   string `json:"job_id,omitempty"`
	// Dir is the staging dir the job writes and Output its log file.
	Dir       string    `json:"dir"`
	Output    string    `json:"output,omitempty"`
	Script    string    `json:"script"`
	Submitted time.Time `json:"submitted"`
}

// journal keeps one entry per stage in a folder of the workspace.
type journal struct{ dir string }

func (j journal) path(stage string) string { return filepath.Join(j.dir, stage+".json") }

// load returns stage's entry, or nil when there is none.
func (j journal) load(stage string) (*entry, error) {
	data, err := os.ReadFile(j.path(stage))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read slurm job journal: %w", err)
	}
	var e entry
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("slurm job journal %s is corrupt (%v); delete it and cancel the stage's job by hand if one still runs", j.path(stage), err)
	}
	return &e, nil
}

// save writes e atomically and durably.
func (j journal) save(e *entry) error {
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return fmt.Errorf("encode slurm job journal: %w", err)
	}
	return writeFileAtomic(j.path(e.Stage), data)
}

// writeFileAtomic writes data to path through a temporary file and a
// rename, syncing both.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return record.SyncDir(dir)
}
