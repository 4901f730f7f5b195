// Package schema reads, interpolates and validates workflow files.
//
// A workflow file is YAML (see the package README section and `runner
// schema`). Loading is strict: unknown keys, wrong types, unknown stage
// types, unknown references, dependency cycles and missing dataset folders
// are errors naming the file, line and column and how to fix them.
package schema

import (
	"time"

	"github.com/nnrunner/nnrunner/pipeline/dag"
	"github.com/nnrunner/nnrunner/pipeline/stage"
)

// FileVersion is the only supported value of a workflow's `version:` key.
const FileVersion = 1

// Workflow is a loaded and validated workflow file.
type Workflow struct {
	// File is the absolute path of the workflow file and Dir its folder;
	// relative paths in the file resolve against Dir.
	File string
	Dir  string
	// Name is the workflow's `name:`.
	Name string
	// Workspace is the absolute workspace directory.
	Workspace string
	// Params holds `params:` after --set overrides.
	Params map[string]any
	// Datasets maps dataset names to absolute folder paths.
	Datasets map[string]string
	// Stages lists the stages in file order.
	Stages []*Stage
	// Graph is the stages' dependency graph.
	Graph *dag.Graph
	// SlurmPoll is the interval between two squeue calls of a run with
	// Slurm stages (`slurm.poll_interval`).
	SlurmPoll time.Duration

	byID map[string]*Stage
}

// Stage returns the stage with the given id.
func (w *Workflow) Stage(id string) (*Stage, bool) {
	s, ok := w.byID[id]
	return s, ok
}

// Stage is one resolved stage of a workflow.
type Stage struct {
	ID   string
	Type string
	// Impl is the registered implementation of Type.
	Impl stage.Stage
	// Spec is Impl.Spec().
	Spec stage.Spec
	// With holds the parameters as the stage receives them: defaults
	// applied, every reference interpolated, paths absolute.
	With stage.Values
	// KeyWith holds the parameters as they enter the cache key: defaults
	// applied, `${params.X}` interpolated, dataset and stage-output
	// references kept symbolic (their content enters the key as inputs) and
	// paths as written, so the key does not depend on where the workspace
	// lives.
	KeyWith stage.Values
	// Inputs lists every path whose content enters the cache key: each
	// referenced dataset or upstream output, and each path parameter that
	// holds no such reference.
	Inputs []Input
	// Outputs are the stage's declared outputs.
	Outputs []stage.Output
	// Needs lists the explicit ordering dependencies (`needs:`).
	Needs []string
	// Deps lists every stage this one depends on (references and needs),
	// sorted.
	Deps []string
	// Env lists the environment variables whose values enter the cache key
	// (the stage's `env` parameter when it has one).
	Env       []string
	Resources Resources
	// Executor is "local" or "slurm" (the stage's `executor:`, else the
	// workflow's, else local).
	Executor string
	// Slurm holds the Slurm settings of a stage with executor slurm.
	Slurm   SlurmOptions
	Retries int
	// Pos is the position of the stage's id in the file.
	Pos Pos
}

// InputKind says where an input comes from.
type InputKind int

// Input kinds.
const (
	// DatasetInput is a `${datasets.X}` reference.
	DatasetInput InputKind = iota
	// OutputInput is a `${stages.ID.outputs.NAME}` reference.
	OutputInput
	// PathInput is a path parameter written literally.
	PathInput
)

// Input is one path whose content is part of a stage's cache key.
type Input struct {
	// Name identifies the input in the key and in plan output:
	// "datasets.X", "stages.ID.outputs.NAME" or "with.PARAM[i]".
	Name string
	Kind InputKind
	// Path is the absolute path.
	Path string
	// Stage and Output name the upstream output of an OutputInput.
	Stage, Output string
}

// Resources is what a stage needs from the machine while it runs.
type Resources struct {
	CPUs   int   // cores; also the stage's thread count
	Memory int64 // bytes; 0 means not declared
	GPUs   int
}

// Pos is a position in the workflow file (1-based).
type Pos struct {
	Line, Col int
}
