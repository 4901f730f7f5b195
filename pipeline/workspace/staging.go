package workspace

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// Staging directory names: "<stage>.<key16>.p<pid>" for ordinary runs and
// restores, "<stage>.<key16>.resume" for resumable runs, which outlive their
// process on purpose.
const resumeSuffix = ".resume"

// StagingRun returns the staging directory of an ordinary run of stage id.
func (l Layout) StagingRun(id, key string) string {
	return filepath.Join(l.StagingDir(), fmt.Sprintf("%s.%s.p%d", id, short(key), os.Getpid()))
}

// StagingResume returns the staging directory of a resumable run of stage id
// with the given cache key; a failed attempt leaves it for the next one.
func (l Layout) StagingResume(id, key string) string {
	return filepath.Join(l.StagingDir(), id+"."+short(key)+resumeSuffix)
}

func short(key string) string {
	if len(key) > 16 {
		return key[:16]
	}
	return key
}

// ParseResumeName splits the name of a resume staging directory into its
// stage id and cache-key prefix; ok is false for other names.
func ParseResumeName(name string) (id, keyPrefix string, ok bool) {
	rest, ok := strings.CutSuffix(name, resumeSuffix)
	if !ok {
		return "", "", false
	}
	i := strings.LastIndex(rest, ".")
	if i <= 0 {
		return "", "", false
	}
	return rest[:i], rest[i+1:], true
}

// CleanStaging removes what interrupted runs left in the staging directory
// and returns how many directories it removed. It must be called with the
// workspace lock held, so nothing there belongs to a live run. Resume
// directories are kept (keep decides) so a trainer can continue; each
// removal is logged.
func CleanStaging(l Layout, keepResume func(name string) bool, log hclog.Logger) (int, error) {
	entries, err := os.ReadDir(l.StagingDir())
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read staging dir: %w", err)
	}
	removed := 0
	for _, e := range entries {
		name := e.Name()
		dir := filepath.Join("staging", name)
		if strings.HasSuffix(name, resumeSuffix) {
			if keepResume(name) {
				continue
			}
			log.Warn("removing the resume dir of a key this workflow no longer plans", "dir", dir)
		} else {
			owner := "an earlier run"
			if i := strings.LastIndex(name, ".p"); i >= 0 {
				if pid, err := strconv.Atoi(name[i+2:]); err == nil {
					owner = fmt.Sprintf("process %d, which is gone", pid)
				}
			}
			log.Warn("removing leftover staging dir of an interrupted run", "dir", dir, "owner", owner)
		}
		if err := RemoveAll(filepath.Join(l.StagingDir(), name)); err != nil {
			return removed, err
		}
		removed++
	}
	return removed, nil
}

// RemoveAll removes path like os.RemoveAll, first making read-only folders
// (as restored outputs are) writable.
func RemoveAll(path string) error {
	if err := os.RemoveAll(path); err == nil {
		return nil
	}
	_ = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o755)
		}
		return nil
	})
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}
