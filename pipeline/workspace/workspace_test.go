package workspace

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"
)

func TestCleanStaging(t *testing.T) {
	l := Layout{Root: t.TempDir()}
	for _, name := range []string{"a.0123456789abcdef.p999999", "train.0123456789abcdef.resume", "old.0123456789abcdef.resume", ".x.tmp-1"} {
		p := filepath.Join(l.StagingDir(), name, "sub")
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(p, "f"), []byte("x"), 0o444)
		os.Chmod(p, 0o555) // read-only folders, as restored outputs have
	}
	var log strings.Builder
	keep := func(name string) bool { return strings.HasPrefix(name, "train.") }
	n, err := CleanStaging(l, keep, hclog.New(&hclog.LoggerOptions{Output: &log}))
	if err != nil || n != 3 {
		t.Fatalf("CleanStaging = %d, %v; want 3 removed", n, err)
	}
	entries, _ := os.ReadDir(l.StagingDir())
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	sort.Strings(left)
	if diff := cmp.Diff([]string{"train.0123456789abcdef.resume"}, left); diff != "" {
		t.Errorf("left (-want +got):\n%s", diff)
	}
	if !strings.Contains(log.String(), "process 999999, which is gone") || strings.Count(log.String(), "removing leftover staging dir") != 2 ||
		!strings.Contains(log.String(), "removing the resume dir of a key this workflow no longer plans") {
		t.Errorf("notes:\n%s", log.String())
	}
}

func TestParseResumeName(t *testing.T) {
	tests := []struct {
		name, id, prefix string
		ok               bool
	}{
		{"train.0123456789abcdef.resume", "train", "0123456789abcdef", true},
		{"a.0123456789abcdef.p999", "", "", false},
		{".resume", "", "", false},
		{"train.resume", "", "", false},
	}
	for _, tt := range tests {
		id, prefix, ok := ParseResumeName(tt.name)
		if id != tt.id || prefix != tt.prefix || ok != tt.ok {
			t.Errorf("ParseResumeName(%q) = %q, %q, %v; want %q, %q, %v", tt.name, id, prefix, ok, tt.id, tt.prefix, tt.ok)
		}
	}
}

func TestLock(t *testing.T) {
	l := Layout{Root: t.TempDir()}
	ctx := context.Background()
	log := hclog.NewNullLogger()
	first, err := AcquireLock(ctx, l, "first", true, log)
	if err != nil {
		t.Fatal(err)
	}
	_, err = AcquireLock(ctx, l, "second", true, log)
	var busy *BusyError
	if !errors.As(err, &busy) || busy.Holder.Command != "first" || busy.Holder.PID != os.Getpid() {
		t.Fatalf("second lock: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := AcquireLock(cctx, l, "waiter", false, log); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: %v", err)
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	again, err := AcquireLock(ctx, l, "third", true, log)
	if err != nil {
		t.Fatal(err)
	}
	again.Release()
}

func TestLockTakeoverIsNoted(t *testing.T) {
	l := Layout{Root: t.TempDir()}
	// A holder that died without releasing: an unlocked file naming a pid
	// that does not exist.
	host, _ := os.Hostname()
	if err := os.WriteFile(l.LockFile(), []byte(`{"pid": 999999, "host": "`+host+`", "command": "runner apply"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	lk, err := AcquireLock(context.Background(), l, "me", true, hclog.New(&hclog.LoggerOptions{Output: &log}))
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Release()
	if !strings.Contains(log.String(), "taking over the workspace lock of a process that died") {
		t.Errorf("no takeover note:\n%s", log.String())
	}
}
