// Package engine decides and executes a workflow's stages: cache keys,
// SKIP/RESTORE/RUN decisions with explanations, parallel crash-safe
// execution, and garbage collection of the workspace.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/nnrunner/nnrunner/pipeline/hashing"
	"github.com/nnrunner/nnrunner/pipeline/record"
	"github.com/nnrunner/nnrunner/pipeline/store"
	"github.com/nnrunner/nnrunner/pipeline/workspace"
	"github.com/nnrunner/nnrunner/schema"
)

// Config configures an Engine.
type Config struct {
	Workflow *schema.Workflow
	// Log receives the engine's progress.
	Log hclog.Logger
	// LogOutput and LogJSON configure the stage loggers, which also write
	// each run's log file.
	LogOutput io.Writer
	LogJSON   bool
	LogLevel  hclog.Level
	// Version is the runner's version, recorded in every result.
	Version string
	// Machine is what the scheduler may hand out; zero fields are detected.
	Machine Machine
	// Executors runs stages whose `executor:` is not local, by name.
	Executors map[string]Executor
}

// Engine runs one workflow in its workspace.
type Engine struct {
	wf      *schema.Workflow
	layout  workspace.Layout
	db      *record.DB
	hasher  *hashing.Hasher
	store   *store.Store
	log     hclog.Logger
	cfg     Config
	machine Machine

	memoMu sync.Mutex
	memo   map[string]*memoEntry
}

type memoEntry struct {
	once sync.Once
	m    *hashing.Manifest
	err  error
}

// New opens the workflow's workspace (creating it if needed).
func New(cfg Config) (*Engine, error) {
	if cfg.Log == nil {
		cfg.Log = hclog.NewNullLogger()
	}
	if cfg.LogOutput == nil {
		cfg.LogOutput = io.Discard
	}
	if cfg.LogLevel == hclog.NoLevel {
		cfg.LogLevel = hclog.Info
	}
	l := workspace.Layout{Root: cfg.Workflow.Workspace}
	st, err := store.Open(l.StoreDir())
	if err != nil {
		return nil, err
	}
	h, err := hashing.NewHasher(l.StatCache(), runtime.GOMAXPROCS(0))
	if err != nil {
		return nil, err
	}
	return &Engine{
		wf:      cfg.Workflow,
		layout:  l,
		db:      record.Open(l),
		hasher:  h,
		store:   st,
		log:     cfg.Log,
		cfg:     cfg,
		machine: cfg.Machine.withDefaults(),
		memo:    map[string]*memoEntry{},
	}, nil
}

// Close saves the hasher's stat cache.
func (e *Engine) Close() error {
	return e.hasher.Save()
}

// HashStats reports the input hashing work done so far.
func (e *Engine) HashStats() hashing.HashStats { return e.hasher.Stats() }

// Layout returns the workspace layout.
func (e *Engine) Layout() workspace.Layout { return e.layout }

// hashInput hashes an input path once per Engine: inputs are hashed before
// a run and must not be re-read for every stage that uses them.
func (e *Engine) hashInput(ctx context.Context, path string) (*hashing.Manifest, error) {
	e.memoMu.Lock()
	me, ok := e.memo[path]
	if !ok {
		me = &memoEntry{}
		e.memo[path] = me
	}
	e.memoMu.Unlock()
	me.once.Do(func() { me.m, me.err = e.hasher.Hash(ctx, path) })
	return me.m, me.err
}

// committed returns stage id's committed result, or nil.
func (e *Engine) committed(id string) (*record.Committed, error) {
	c, err := e.db.Committed(id)
	if errors.Is(err, record.ErrNotFound) {
		return nil, nil
	}
	return c, err
}

// OutputPath returns the path of stage id's committed output name, or an
// error wrapping fs.ErrNotExist when there is none. It also fails, with
// ErrOutdated, when the committed result is not the one the workflow as
// loaded (its --set values included) would keep: the path would hold the
// results of other inputs or settings.
func (e *Engine) OutputPath(ctx context.Context, id, name string) (string, error) {
	s, ok := e.wf.Stage(id)
	if !ok {
		return "", fmt.Errorf("no stage %q in %s: %w", id, e.wf.File, fs.ErrNotExist)
	}
	c, err := e.committed(id)
	if err != nil {
		return "", err
	}
	if c == nil {
		return "", fmt.Errorf("stage %s has no committed result; run `runner apply`: %w", id, fs.ErrNotExist)
	}
	o, ok := c.Outputs[name]
	if !ok {
		var names []string
		for _, d := range s.Outputs {
			names = append(names, d.Name)
		}
		return "", fmt.Errorf("stage %s has no committed output %q (outputs: %v): %w", id, name, names, fs.ErrNotExist)
	}
	p := e.layout.OutputPath(id, o.Path)
	if _, err := os.Lstat(p); err != nil {
		return "", fmt.Errorf("committed output %s.%s is missing on disk; run `runner apply` to restore it: %w", id, name, fs.ErrNotExist)
	}
	plan, err := e.Plan(ctx, Selection{Targets: []string{id}}, false)
	if err != nil {
		return "", err
	}
	for _, n := range plan.Nodes {
		if n.Stage == id && n.Decision != Skip {
			return "", fmt.Errorf("the committed output %s.%s is from other inputs or settings than these (%s: %s); run `runner apply --target %s` with the same --set values: %w", id, name, n.Decision, n.Reason, id, ErrOutdated)
		}
	}
	return p, nil
}

// ErrOutdated is returned for a committed output the workflow would
// recompute or restore.
var ErrOutdated = errors.New("committed output is outdated")
