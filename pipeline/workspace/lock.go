package workspace

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
)

// lockPoll is how often a waiting apply retries the workspace lock.
const lockPoll = 200 * time.Millisecond

// Holder describes the process holding a workspace lock; it is written into
// the lock file so that others can say who they wait for.
type Holder struct {
	PID      int       `json:"pid"`
	Host     string    `json:"host"`
	Command  string    `json:"command"`
	Since    time.Time `json:"since"`
	Released bool      `json:"released"`
}

func (h Holder) String() string {
	return fmt.Sprintf("pid %d on %s (%s, since %s)", h.PID, h.Host, h.Command, h.Since.Format(time.RFC3339))
}

// BusyError is returned by Lock when the workspace is locked and the caller
// does not wait.
type BusyError struct {
	Path   string
	Holder Holder
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("workspace %s is locked by %s; wait for it or drop --no-wait", filepath.Dir(e.Path), e.Holder)
}

// ExitCode is the process exit status for a busy workspace.
func (e *BusyError) ExitCode() int { return 1 }

// Lock is a held workspace lock. It is an flock(2) on the lock file, so the
// kernel releases it when its process dies: a killed apply never leaves a
// lock that blocks the next one.
type Lock struct {
	f *os.File
}

// AcquireLock takes the workspace lock. When another process holds it,
// AcquireLock returns a *BusyError if noWait, else logs who holds it and
// waits until it is free or ctx is done. Taking over from a holder that died
// without releasing is logged.
func AcquireLock(ctx context.Context, l Layout, command string, noWait bool, log hclog.Logger) (*Lock, error) {
	if err := os.MkdirAll(l.Root, 0o755); err != nil {
		return nil, fmt.Errorf("create workspace: %w", err)
	}
	path := l.LockFile()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open workspace lock: %w", err)
	}
	waited := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		holder, _ := readHolder(f)
		if noWait {
			f.Close()
			return nil, &BusyError{Path: path, Holder: holder}
		}
		if !waited {
			log.Info("waiting for the workspace lock", "workspace", l.Root, "holder", holder.String())
			waited = true
		}
		t := time.NewTimer(lockPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("wait for workspace lock: %w", ctx.Err())
		case <-t.C:
		}
	}
	if prev, err := readHolder(f); err == nil && !prev.Released && prev.PID != 0 {
		host, _ := os.Hostname()
		if prev.Host == host && !processAlive(prev.PID) {
			log.Warn("taking over the workspace lock of a process that died without releasing it", "holder", prev.String())
		}
	}
	host, _ := os.Hostname()
	if err := writeHolder(f, Holder{PID: os.Getpid(), Host: host, Command: command, Since: time.Now().UTC()}); err != nil {
		f.Close()
		return nil, err
	}
	return &Lock{f: f}, nil
}

// Release marks the lock released and unlocks it.
func (lk *Lock) Release() error {
	if lk == nil || lk.f == nil {
		return nil
	}
	h, _ := readHolder(lk.f)
	h.Released = true
	werr := writeHolder(lk.f, h)
	uerr := syscall.Flock(int(lk.f.Fd()), syscall.LOCK_UN)
	cerr := lk.f.Close()
	lk.f = nil
	return errors.Join(werr, uerr, cerr)
}

func readHolder(f *os.File) (Holder, error) {
	var h Holder
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return h, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return h, err
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return h, errors.New("empty lock file")
	}
	return h, json.Unmarshal(data, &h)
}

func writeHolder(f *os.File, h Holder) error {
	data, err := json.Marshal(h)
	if err != nil {
		return err
	}
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("write workspace lock: %w", err)
	}
	if _, err := f.WriteAt(append(data, '\n'), 0); err != nil {
		return fmt.Errorf("write workspace lock: %w", err)
	}
	return nil
}

// processAlive reports whether a process with the given pid exists.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
