package train

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// BenchmarkTinyEpoch times one epoch (10 training and 2 validation
// iterations, checkpoints and progress.png) of the tiny synthetic setup:
// the trainer's overhead around a network that costs almost nothing.
func BenchmarkTinyEpoch(b *testing.B) {
	root := b.TempDir()
	pre, pl := tinySynth.write(b, root)
	st := NewTrain()
	req := request(st, root, map[string]any{"preprocessed": pre, "plans": pl, "epochs": int64(b.N),
		"iterations_per_epoch": int64(10), "val_iterations": int64(2), "final_validation": false})
	o, err := parseOptions(req.With, 2)
	if err != nil {
		b.Fatal(err)
	}
	setup, err := st.setup(req.With)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	if err := Train(context.Background(), hclog.NewNullLogger(), filepath.Join(root, "t"), setup, o, false); err != nil {
		b.Fatal(err)
	}
}
