// Package builtin registers every stage type that ships with nnrunner.
package builtin

import (
	"github.com/nnrunner/nnrunner/pipeline/stage"
	"github.com/nnrunner/nnrunner/stages/evaluate"
	"github.com/nnrunner/nnrunner/stages/exec"
	"github.com/nnrunner/nnrunner/stages/fingerprint"
	"github.com/nnrunner/nnrunner/stages/plan"
	"github.com/nnrunner/nnrunner/stages/predict"
	"github.com/nnrunner/nnrunner/stages/preprocess"
	"github.com/nnrunner/nnrunner/stages/subset"
	"github.com/nnrunner/nnrunner/stages/synthesize"
	"github.com/nnrunner/nnrunner/stages/train"
	"github.com/nnrunner/nnrunner/stages/transfer"
)

// Registry returns a registry holding all built-in stage types.
func Registry() (*stage.Registry, error) {
	r := stage.NewRegistry()
	for _, s := range []stage.Stage{
		// Each stage package adds its constructor here, e.g. fingerprint.New().
		exec.New(),
		evaluate.New(),
		predict.New(),
		subset.New(),
		fingerprint.New(),
		plan.New(),
		transfer.New(),
		preprocess.New(),
		synthesize.New(),
		train.NewTrain(), train.NewPretrain(), train.NewFinetune(),
	} {
		if err := r.Register(s); err != nil {
			return nil, err
		}
	}
	return r, nil
}
