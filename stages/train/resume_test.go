package train

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// runTiny trains the tiny synthetic setup into dir with the given seed;
// cancelAfter ≥ 0 cancels the run after that epoch.
func runTiny(t *testing.T, pre, pl, dir string, seed int64, resumed bool, cancelAfter int, workers int64) error {
	t.Helper()
	st := NewPretrain()
	req := request(st, dir, map[string]any{
		"preprocessed": pre, "plans": pl, "epochs": int64(4), "iterations_per_epoch": int64(3),
		"val_iterations": int64(1), "seed": seed, "num_workers": workers, "final_validation": false,
	})
	o, err := parseOptions(req.With, 2)
	must(t, err)
	setup, err := st.setup(req.With)
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := hooks{afterEpoch: func(e int) {
		if e == cancelAfter {
			cancel()
		}
	}}
	return train(ctx, hclog.NewNullLogger(), dir, setup, o, resumed, h)
}

func readAll(t *testing.T, dir, name string) [][]byte {
	t.Helper()
	w, o, _ := CheckpointPaths(dir, name)
	var out [][]byte
	for _, p := range []string{w, o} {
		b, err := os.ReadFile(p)
		must(t, err)
		out = append(out, b)
	}
	return out
}

// TestResumeMatchesUninterrupted kills a training after epoch 1 and
// resumes it with another worker count: the final weights and momentum
// must equal, byte for byte, those of an uninterrupted run with the same
// seed, and differ from a run with another seed.
func TestResumeMatchesUninterrupted(t *testing.T) {
	root := t.TempDir()
	pre, pl := tinySynth.write(t, root)
	full := filepath.Join(root, "full")
	must(t, runTiny(t, pre, pl, full, 5, false, -1, 2))

	cut := filepath.Join(root, "cut")
	err := runTiny(t, pre, pl, cut, 5, false, 1, 2)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run returned %v, want context.Canceled", err)
	}
	if _, _, sc := CheckpointPaths(cut, LatestName); !exists(sc) {
		t.Fatalf("no %s after the interruption", sc)
	}
	if _, _, sc := CheckpointPaths(cut, FinalName); exists(sc) {
		t.Fatalf("final checkpoint written by the interrupted run")
	}
	// The resumed run uses another number of augmentation workers: results
	// must not depend on it.
	must(t, runTiny(t, pre, pl, cut, 5, true, -1, 1))
	if _, _, sc := CheckpointPaths(cut, LatestName); exists(sc) {
		t.Errorf("checkpoint_latest left behind after the final checkpoint")
	}
	sc, err := ReadSidecar(filepath.Join(cut, FinalName+SidecarSuffix))
	must(t, err)
	if sc.CurrentEpoch != 4 || len(sc.Logging.TrainLosses) != 4 {
		t.Errorf("final sidecar: epoch %d, %d logged epochs; want 4 and 4", sc.CurrentEpoch, len(sc.Logging.TrainLosses))
	}
	a, b := readAll(t, full, FinalName), readAll(t, cut, FinalName)
	for i, what := range []string{"weights", "optimizer"} {
		if !bytes.Equal(a[i], b[i]) {
			t.Errorf("resumed final %s differ from the uninterrupted run", what)
		}
	}

	other := filepath.Join(root, "other")
	must(t, runTiny(t, pre, pl, other, 6, false, -1, 2))
	if bytes.Equal(readAll(t, other, FinalName)[0], a[0]) {
		t.Errorf("seeds 5 and 6 gave identical weights")
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
