package train

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/nnrunner/nnrunner/stages/pyjson"
)

// TestTrainLearnsSpheres trains a tiny network on bright spheres in noise
// (fold 0: 8 training, 2 held-out cases) and checks the final validation.
func TestTrainLearnsSpheres(t *testing.T) {
	dir := t.TempDir()
	pre, pl := tinySynth.write(t, dir)
	st := NewTrain()
	req := request(st, filepath.Join(dir, "out"), map[string]any{
		"preprocessed": pre, "plans": pl, "epochs": int64(8), "iterations_per_epoch": int64(10),
		"val_iterations": int64(2), "seed": int64(3), "num_workers": int64(2),
	})
	must(t, mkdir(req.OutDir))
	if err := st.Run(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	sum, err := pyjson.ReadObject(filepath.Join(req.OutDir, FolderName, SummaryPath))
	must(t, err)
	fg, _ := sum.Get("foreground_mean")
	dice, _ := fg.(*pyjson.Object).Get("Dice")
	t.Logf("held-out Dice %v", dice)
	if d, ok := dice.(float64); !ok || d < 0.8 {
		t.Fatalf("held-out mean Dice %v, want > 0.8", dice)
	}
}
