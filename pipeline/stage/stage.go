// Package stage is the contract between the workflow engine and the stage
// types it runs. The engine knows stages only through this package; a stage
// implementation imports this package and nothing else of the engine.
package stage

import (
	"context"

	"github.com/hashicorp/go-hclog"
)

// Kind is the type of one `with` parameter of a stage.
type Kind string

// Parameter kinds. Path and Paths values are resolved against the workflow
// file's folder and their content is hashed into the cache key.
const (
	String  Kind = "string"
	Int     Kind = "int"
	Float   Kind = "float"
	Bool    Kind = "bool"
	Path    Kind = "path"
	Paths   Kind = "paths"
	Strings Kind = "strings"
	Env     Kind = "env" // names of environment variables the stage reads; their values are part of the cache key
	Ints    Kind = "ints"
	Object  Kind = "object" // free-form mapping, hashed as canonical JSON
	Any     Kind = "any"    // scalar, list or mapping; hashed as canonical JSON
)

// Param declares one key of a stage's `with` block.
type Param struct {
	Name     string
	Kind     Kind
	Required bool
	Default  any      // used when the key is absent and Required is false; nil means absent
	Enum     []string // allowed values of a String param, if restricted
	Doc      string
}

// Output is one named result of a stage, a file or folder inside its output
// directory.
type Output struct {
	Name string
	Path string // relative to the stage's output directory, slash-separated
	Doc  string
}

// Spec describes a stage type.
type Spec struct {
	Type    string // the `type:` value in a workflow file
	Version int    // implementation version; bump when outputs change for equal inputs
	Doc     string
	Params  []Param
	// Resume marks long-running stages (training): a failed attempt's
	// staging directory is kept and handed back to the next attempt with the
	// same cache key, so the stage can continue from its latest checkpoint.
	Resume bool
}

// Stage is one stage type.
type Stage interface {
	// Spec returns the static description of the stage type.
	Spec() Spec
	// Outputs returns the outputs the stage will produce for the given
	// resolved parameters. It must not touch the file system.
	Outputs(with Values) ([]Output, error)
	// Run computes the outputs into req.OutDir. It must honour ctx
	// cancellation and return an error wrapping ctx.Err() when cancelled.
	Run(ctx context.Context, req *Request) error
}

// Request is what the engine hands a stage for one run.
type Request struct {
	// With holds the resolved parameters: defaults applied, references
	// interpolated, paths absolute.
	With Values
	// OutDir is the staging directory the stage writes its outputs into. It
	// exists and, unless Resumed is true, is empty.
	OutDir string
	// Resumed is true when OutDir holds the files of an earlier failed
	// attempt with the same cache key (only for Spec().Resume stages).
	Resumed bool
	// Threads is the number of CPU cores the stage may use (>= 1).
	Threads int
	// Log is the stage's logger; everything it writes is kept in the run record.
	Log hclog.Logger
}
