package slurm

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// squeueFormat is the output format of every squeue call: job id, state
// and pending reason, '|'-separated (none of them holds a '|').
const squeueFormat = "%i|%T|%r"

// QueueEntry is one job as squeue lists it.
type QueueEntry struct {
	ID     string
	State  string // e.g. PENDING, RUNNING, COMPLETED
	Reason string // why a job is pending, "None" otherwise
}

// JobInfo is a job's state as `scontrol show job` or the job completion
// log reports it.
type JobInfo struct {
	ID     string
	Name   string
	State  string
	Reason string
	// ExitCode and Signal come from ExitCode=CODE:SIGNAL.
	ExitCode int
	Signal   int
	// StdOut is the path of the job's output file (scontrol only).
	StdOut string
}

// terminal lists the job states in which a job will never run again.
var terminal = map[string]bool{
	"COMPLETED":     true,
	"FAILED":        true,
	"CANCELLED":     true,
	"TIMEOUT":       true,
	"OUT_OF_MEMORY": true,
	"NODE_FAIL":     true,
	"BOOT_FAIL":     true,
	"DEADLINE":      true,
	"PREEMPTED":     true,
	"REVOKED":       true,
	"SPECIAL_EXIT":  true,
}

// Terminal reports whether a job in state will never run again. COMPLETING
// is not terminal: the job's processes may still be writing.
func Terminal(state string) bool { return terminal[state] }

// Succeeded reports whether the job ended with state COMPLETED and exit
// code 0.
func (j *JobInfo) Succeeded() bool {
	return j.State == "COMPLETED" && j.ExitCode == 0 && j.Signal == 0
}

// parseSbatch reads the job id from `sbatch --parsable` output: "ID" or
// "ID;CLUSTER".
func parseSbatch(out []byte) (string, error) {
	line := strings.TrimSpace(string(out))
	if i := strings.LastIndexByte(line, '\n'); i >= 0 {
		// Warnings may precede the id; the id is the last line.
		line = strings.TrimSpace(line[i+1:])
	}
	id, _, _ := strings.Cut(line, ";")
	if id == "" {
		return "", fmt.Errorf("sbatch printed no job id")
	}
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		return "", fmt.Errorf("sbatch printed %q, want a job id", line)
	}
	return id, nil
}

// parseSqueue reads `squeue -h -o '%i|%T|%r'` output into entries by job
// id.
func parseSqueue(out []byte) (map[string]QueueEntry, error) {
	entries := map[string]QueueEntry{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		f := strings.SplitN(line, "|", 3)
		if len(f) != 3 || f[0] == "" || f[1] == "" {
			return nil, fmt.Errorf("squeue output line %d: %q is not ID|STATE|REASON", n, line)
		}
		entries[f[0]] = QueueEntry{ID: f[0], State: f[1], Reason: f[2]}
	}
	return entries, sc.Err()
}

// parseKeyValues splits `scontrol show job` output or a job completion log
// line into its KEY=VALUE fields. A whitespace-separated word without '='
// continues the previous value (values such as reasons may hold spaces).
func parseKeyValues(text string) map[string]string {
	kv := map[string]string{}
	last := ""
	for _, w := range strings.Fields(text) {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			if last != "" {
				kv[last] += " " + w
			}
			continue
		}
		if _, seen := kv[k]; seen {
			// The first occurrence wins (e.g. scontrol's JobId before any
			// step's).
			last = ""
			continue
		}
		kv[k], last = v, k
	}
	return kv
}

// parseJobInfo builds a JobInfo from the fields of one job.
func parseJobInfo(kv map[string]string) (*JobInfo, error) {
	j := &JobInfo{ID: kv["JobId"], Name: kv["JobName"], State: kv["JobState"], Reason: kv["Reason"], StdOut: kv["StdOut"]}
	if j.Name == "" {
		j.Name = kv["Name"] // the job completion log's spelling
	}
	if j.ID == "" || j.State == "" {
		return nil, fmt.Errorf("no JobId or JobState in the job record")
	}
	// A state may carry flags after a '+' (e.g. CANCELLED+).
	j.State, _, _ = strings.Cut(j.State, "+")
	if ec := kv["ExitCode"]; ec != "" {
		code, sig, _ := strings.Cut(ec, ":")
		var err error
		if j.ExitCode, err = strconv.Atoi(code); err != nil {
			return nil, fmt.Errorf("job %s: ExitCode=%q: %w", j.ID, ec, err)
		}
		if sig != "" {
			if j.Signal, err = strconv.Atoi(sig); err != nil {
				return nil, fmt.Errorf("job %s: ExitCode=%q: %w", j.ID, ec, err)
			}
		}
	}
	return j, nil
}

// parseScontrolJob reads `scontrol show job ID` output.
func parseScontrolJob(out []byte) (*JobInfo, error) {
	return parseJobInfo(parseKeyValues(string(out)))
}

// findJobComp returns the last record of job id in a jobcomp/filetxt log,
// or nil.
func findJobComp(log []byte, id string) (*JobInfo, error) {
	var found *JobInfo
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	prefix := "JobId=" + id + " "
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		j, err := parseJobInfo(parseKeyValues(line))
		if err != nil {
			return nil, err
		}
		found = j
	}
	return found, sc.Err()
}

// invalidJobID reports whether a Slurm client's error output says the job
// is unknown to the controller (finished and purged after MinJobAge).
func invalidJobID(stderr string) bool {
	return strings.Contains(stderr, "Invalid job id specified")
}
