package schema

import (
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Executors lists the valid `executor:` values.
var Executors = []string{"local", "slurm"}

// SlurmOptions are the Slurm settings of a stage: its `slurm:` block merged
// over the workflow's. The stage's resources become --cpus-per-task, --mem
// and --gres=gpu:N.
type SlurmOptions struct {
	// Partition is the partition to submit to; empty means the cluster's
	// default.
	Partition string
	// Time is the job's wall-clock limit in a Slurm time format (MINUTES,
	// HH:MM:SS, D-HH:MM, ...); empty means the partition's default.
	Time string
	// Args are extra sbatch arguments, e.g. --account=lab or --qos=long.
	Args []string
	// PollInterval is how often the runner lists its jobs (workflow level
	// only; default DefaultSlurmPoll).
	PollInterval time.Duration
}

// DefaultSlurmPoll is the default interval between two squeue calls.
const DefaultSlurmPoll = 10 * time.Second

// slurmTime matches Slurm's --time formats: M, M:S, H:M:S, D-H, D-H:M,
// D-H:M:S.
var slurmTime = regexp.MustCompile(`^([0-9]+|[0-9]+:[0-9]+|[0-9]+:[0-9]+:[0-9]+|[0-9]+-[0-9]+|[0-9]+-[0-9]+:[0-9]+|[0-9]+-[0-9]+:[0-9]+:[0-9]+|UNLIMITED|INFINITE)$`)

// managedSbatch maps the sbatch options the runner sets itself to where
// they are declared instead.
var managedSbatch = map[string]string{
	"--job-name": "the runner names jobs", "-J": "the runner names jobs",
	"--output": "the runner keeps job logs", "-o": "the runner keeps job logs",
	"--error": "the runner keeps job logs", "-e": "the runner keeps job logs",
	"--parsable": "the runner sets it", "--wrap": "the runner writes the job script",
	"--array": "the runner submits one job per stage", "-a": "the runner submits one job per stage",
	"--cpus-per-task": "use resources.cpus", "-c": "use resources.cpus",
	"--mem": "use resources.memory", "--gres": "use resources.gpus", "--gpus": "use resources.gpus", "-G": "use resources.gpus",
	"--time": "use slurm.time", "-t": "use slurm.time",
	"--partition": "use slurm.partition", "-p": "use slurm.partition",
}

// parseSlurm reads a `slurm:` block at what ("slurm" or
// "stages.ID.slurm"); pollOK allows poll_interval.
func parseSlurm(v *yaml.Node, what string, pollOK bool, errs *errorList) SlurmOptions {
	var o SlurmOptions
	keys := []string{"partition", "time", "sbatch_args"}
	if pollOK {
		keys = append(keys, "poll_interval")
	}
	forEachKey(v, errs, what, keys, func(k string, _, n *yaml.Node) {
		switch k {
		case "partition":
			o.Partition, _ = stringValue(n, errs, what+".partition")
		case "time":
			if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!str" && n.ShortTag() != "!!int") {
				errs.add(pos(n), "%s.time must be a Slurm time such as \"02:00:00\" or \"1-12:00:00\"", what)
				return
			}
			t := n.Value // an integer is minutes
			if !slurmTime.MatchString(t) {
				errs.add(pos(n), "%s.time %q is not a Slurm time; write MINUTES, HH:MM:SS or DAYS-HH:MM:SS, e.g. \"02:00:00\"", what, t)
				return
			}
			o.Time = t
		case "sbatch_args":
			if n.Kind != yaml.SequenceNode {
				errs.add(pos(n), "%s.sbatch_args must be a list of sbatch options, e.g. [--account=lab]", what)
				return
			}
			for _, e := range n.Content {
				a, ok := stringValue(e, errs, what+".sbatch_args")
				if !ok {
					continue
				}
				name, _, _ := strings.Cut(a, "=")
				switch {
				case !strings.HasPrefix(a, "-"):
					errs.add(pos(e), "%s.sbatch_args: %q is not an option; write each option with its value as one item, e.g. --account=lab", what, a)
				case managedSbatch[name] != "":
					errs.add(pos(e), "%s.sbatch_args: %s is set by the runner (%s)", what, name, managedSbatch[name])
				default:
					o.Args = append(o.Args, a)
				}
			}
		case "poll_interval":
			s, ok := stringValue(n, errs, what+".poll_interval")
			if !ok {
				return
			}
			d, err := time.ParseDuration(s)
			if err != nil || d < 100*time.Millisecond {
				errs.add(pos(n), "%s.poll_interval %q: want a duration of at least 100ms, e.g. 10s", what, s)
				return
			}
			o.PollInterval = d
		}
	})
	return o
}

// merge returns the stage's options s over the workflow's w.
func (w SlurmOptions) merge(s SlurmOptions) SlurmOptions {
	out := w
	if s.Partition != "" {
		out.Partition = s.Partition
	}
	if s.Time != "" {
		out.Time = s.Time
	}
	out.Args = append(append([]string{}, w.Args...), s.Args...)
	return out
}

// slurmJSONSchema returns the JSON Schema of a `slurm:` block.
func slurmJSONSchema(workflowLevel bool) map[string]any {
	props := map[string]any{
		"partition":   map[string]any{"type": "string", "description": "partition to submit to (default: the cluster's)"},
		"time":        map[string]any{"type": []string{"string", "integer"}, "description": "wall-clock limit, e.g. \"02:00:00\" or \"1-12:00:00\""},
		"sbatch_args": map[string]any{"type": "array", "items": map[string]any{"type": "string", "pattern": "^-"}, "description": "extra sbatch options, e.g. [--account=lab]"},
	}
	if workflowLevel {
		props["poll_interval"] = map[string]any{"type": "string", "default": DefaultSlurmPoll.String(), "description": "how often the runner lists its jobs with squeue"}
	}
	desc := "Slurm settings of a stage with executor slurm, over the workflow's"
	if workflowLevel {
		desc = "defaults for every stage with executor slurm"
	}
	return map[string]any{"type": "object", "additionalProperties": false, "properties": props, "description": desc}
}
