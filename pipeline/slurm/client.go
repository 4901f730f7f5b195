package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// CommandError is a Slurm client command that failed; Stderr holds what it
// printed, e.g. "Unable to contact slurm controller".
type CommandError struct {
	Command string
	Stderr  string
	Err     error
}

func (e *CommandError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		msg = e.Err.Error()
	}
	return fmt.Sprintf("%s: %s", e.Command, msg)
}

func (e *CommandError) Unwrap() error { return e.Err }

// CommandFunc runs a Slurm client command and returns its standard output;
// a failure is a *CommandError. Tests replace it with recorded outputs.
type CommandFunc func(ctx context.Context, name string, args ...string) ([]byte, error)

// execCommand runs the command with os/exec.
func execCommand(ctx context.Context, name string, args ...string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, &CommandError{Command: name + " " + strings.Join(args, " "), Stderr: stderr.String(), Err: err}
	}
	return stdout.Bytes(), nil
}

// client speaks to the Slurm controller through its command-line tools.
type client struct {
	run CommandFunc
}

// submit submits script with the given sbatch options and returns the job
// id.
func (c client) submit(ctx context.Context, args []string, script string) (string, error) {
	out, err := c.run(ctx, "sbatch", append(append([]string{"--parsable"}, args...), script)...)
	if err != nil {
		return "", fmt.Errorf("submit job: %w", err)
	}
	return parseSbatch(out)
}

// queue lists this user's jobs in every state. Listing by user rather than
// by id keeps one call for all jobs: `squeue -j` fails as a whole when one
// id has been purged.
func (c client) queue(ctx context.Context) (map[string]QueueEntry, error) {
	out, err := c.run(ctx, "squeue", "--noheader", "--me", "--states=all", "--format="+squeueFormat)
	if err != nil {
		return nil, err
	}
	return parseSqueue(out)
}

// errUnknownJob is a job id the controller no longer knows.
var errUnknownJob = errors.New("job unknown to the controller")

// show returns job id's state from `scontrol show job`, or an error wrapping
// errUnknownJob when the controller has purged it.
func (c client) show(ctx context.Context, id string) (*JobInfo, error) {
	out, err := c.run(ctx, "scontrol", "show", "job", id)
	var ce *CommandError
	if errors.As(err, &ce) && invalidJobID(ce.Stderr) {
		return nil, fmt.Errorf("job %s: %w", id, errUnknownJob)
	}
	if err != nil {
		return nil, err
	}
	j, err := parseScontrolJob(out)
	if err != nil {
		return nil, fmt.Errorf("scontrol show job %s: %w", id, err)
	}
	return j, nil
}

// jobComp looks job id up in the controller's job completion log when it is
// a readable jobcomp/filetxt file; nil when it is not there.
func (c client) jobComp(ctx context.Context, id string) (*JobInfo, error) {
	out, err := c.run(ctx, "scontrol", "show", "config")
	if err != nil {
		return nil, err
	}
	kv := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if ok {
			kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if kv["JobCompType"] != "jobcomp/filetxt" || kv["JobCompLoc"] == "" {
		return nil, nil
	}
	data, err := os.ReadFile(kv["JobCompLoc"])
	if err != nil {
		return nil, nil // on another host or not readable: no answer here
	}
	return findJobComp(data, id)
}

// cancel cancels the jobs.
func (c client) cancel(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := c.run(ctx, "scancel", ids...); err != nil {
		return fmt.Errorf("cancel jobs %s: %w", strings.Join(ids, ","), err)
	}
	return nil
}
