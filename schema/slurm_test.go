package schema

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSlurmOptions(t *testing.T) {
	const wf = `version: 1
executor: slurm
slurm: {partition: cpu, time: "01:00:00", sbatch_args: [--account=lab], poll_interval: 2s}
stages:
  a: {type: fake, with: {req: r}}
  b: {type: fake, with: {req: r}, slurm: {partition: gpu, time: 90, sbatch_args: [--qos=long]}}
  c: {type: fake, with: {req: r}, executor: local}
`
	d := dir(t)
	w, err := Parse(filepath.Join(d, "wf.yaml"), []byte(wf), Options{Registry: registry(t)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id       string
		executor string
		slurm    SlurmOptions
	}{
		{"a", "slurm", SlurmOptions{Partition: "cpu", Time: "01:00:00", Args: []string{"--account=lab"}, PollInterval: 2 * time.Second}},
		{"b", "slurm", SlurmOptions{Partition: "gpu", Time: "90", Args: []string{"--account=lab", "--qos=long"}, PollInterval: 2 * time.Second}},
		{"c", "local", SlurmOptions{}},
	}
	for _, tc := range tests {
		s, _ := w.Stage(tc.id)
		if s.Executor != tc.executor {
			t.Errorf("stage %s: executor %q, want %q", tc.id, s.Executor, tc.executor)
		}
		if diff := cmp.Diff(tc.slurm, s.Slurm); diff != "" {
			t.Errorf("stage %s: slurm options (-want +got):\n%s", tc.id, diff)
		}
	}
	if w.SlurmPoll != 2*time.Second {
		t.Errorf("poll interval %v, want 2s", w.SlurmPoll)
	}
}

func TestSlurmOptionErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"bad time", "version: 1\nstages:\n  a: {type: fake, with: {req: r}, executor: slurm, slurm: {time: 2h}}\n",
			`:3:66: stages.a.slurm.time "2h" is not a Slurm time`},
		{"managed arg", "version: 1\nstages:\n  a: {type: fake, with: {req: r}, executor: slurm, slurm: {sbatch_args: [--mem=4G]}}\n",
			`stages.a.slurm.sbatch_args: --mem is set by the runner (use resources.memory)`},
		{"not an option", "version: 1\nstages:\n  a: {type: fake, with: {req: r}, executor: slurm, slurm: {sbatch_args: [account=lab]}}\n",
			`"account=lab" is not an option`},
		{"poll on stage", "version: 1\nstages:\n  a: {type: fake, with: {req: r}, executor: slurm, slurm: {poll_interval: 1s}}\n",
			`stages.a.slurm: unknown key "poll_interval"`},
		{"bad poll", "version: 1\nslurm: {poll_interval: 1ms}\nstages: {}\n", `slurm.poll_interval "1ms"`},
		{"bad default executor", "version: 1\nexecutor: k8s\nstages:\n  a: {type: fake, with: {req: r}}\n",
			`:2:11: stage a: unknown executor "k8s"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(filepath.Join(dir(t), "wf.yaml"), []byte(tc.yaml), Options{Registry: registry(t)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
