package main

import (
	"context"
	"io"

	"github.com/hashicorp/go-hclog"
	"github.com/nnrunner/nnrunner/pipeline/engine"
	"github.com/nnrunner/nnrunner/pipeline/slurm"
	"github.com/nnrunner/nnrunner/schema"
	"github.com/nnrunner/nnrunner/stages/builtin"
)

// executors returns the remote executors the workflow's stages use.
func executors(wf *schema.Workflow, set []string, c *common, log hclog.Logger) (map[string]engine.Executor, error) {
	for _, s := range wf.Stages {
		if s.Executor != slurm.Name {
			continue
		}
		x, err := slurm.New(slurm.Config{Workflow: wf, Set: set, LogFormat: c.logFormat, Log: log.Named("slurm")})
		if err != nil {
			return nil, err
		}
		return map[string]engine.Executor{slurm.Name: x}, nil
	}
	return nil, nil
}

// cmdSlurmWorker is the hidden command a Slurm job runs: one stage, as
// described by the worker spec the coordinating runner wrote.
func cmdSlurmWorker(ctx context.Context, args []string, stderr io.Writer) error {
	fs, _ := newFlagSet(slurm.WorkerCommand, stderr)
	pos, err := parse(fs, args, "SPEC")
	if err != nil {
		return err
	}
	reg, err := builtin.Registry()
	if err != nil {
		return err
	}
	return slurm.RunWorker(ctx, pos[0], reg, stderr)
}
