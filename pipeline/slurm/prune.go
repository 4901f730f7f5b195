package slurm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Prune removes the job files (script, worker spec, output log, status) of
// every job but each stage's latest, which a restarted apply may re-attach
// to and whose log a user may still read; their output is in the stage
// logs. It returns how many files it removed. The caller holds the
// workspace lock, so no apply is submitting jobs meanwhile.
func (x *Executor) Prune() (int, error) {
	stages, err := os.ReadDir(x.journal.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("read slurm job journal: %w", err)
	}
	keep := map[string]bool{}
	var keepLogsOf []string // stages whose latest job id was never journaled
	for _, d := range stages {
		id, ok := strings.CutSuffix(d.Name(), ".json")
		if !ok || d.IsDir() {
			continue
		}
		e, err := x.journal.load(id)
		if err != nil {
			return 0, err
		}
		if e == nil {
			continue
		}
		spec, script := x.jobFiles(e.Stage, e.Key)
		keep[spec], keep[script] = true, true
		if e.JobID == "" {
			keepLogsOf = append(keepLogsOf, e.Stage+".")
			continue
		}
		keep[x.outputPath(e.Stage, e.JobID)] = true
		keep[statusPath(x.statusDir(), e.JobID)] = true
	}
	removed := 0
	for _, sub := range []string{"scripts", "specs", "logs", "status"} {
		dir := filepath.Join(x.root, sub)
		files, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return removed, fmt.Errorf("prune slurm job files: %w", err)
		}
		for _, f := range files {
			p := filepath.Join(dir, f.Name())
			if f.IsDir() || keep[p] || sub == "logs" && hasAnyPrefix(f.Name(), keepLogsOf) {
				continue
			}
			if err := os.Remove(p); err != nil {
				return removed, fmt.Errorf("prune slurm job files: %w", err)
			}
			removed++
		}
	}
	return removed, nil
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
