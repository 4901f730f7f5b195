package train

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/nnrunner/nnrunner/stages/plans"
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
	dir = filepath.Join(req.OutDir, FolderName)
	for _, f := range []string{"progress.png", "training_log.txt", "splits_final.json", BestName + WeightsSuffix, BestName + SidecarSuffix} {
		if !exists(filepath.Join(dir, f)) {
			t.Errorf("%s was not written", f)
		}
	}
	outs, err := st.Outputs(req.With)
	must(t, err)
	for _, o := range outs {
		if !exists(filepath.Join(req.OutDir, filepath.FromSlash(o.Path))) {
			t.Errorf("output %s (%s) is missing", o.Name, o.Path)
		}
	}
	loaded, err := plans.Load(pl)
	must(t, err)
	m, sc, err := LoadModel(filepath.Join(dir, FinalName+WeightsSuffix), loaded)
	must(t, err)
	if sc.CurrentEpoch != 8 || sc.NumClasses != 2 || len(sc.Logging.EMAFgDice) != 8 || sc.Fold != "0" || m.Config().NumClasses != 2 {
		t.Errorf("final checkpoint: epoch %d, classes %d, %d EMA entries, fold %q", sc.CurrentEpoch, sc.NumClasses, len(sc.Logging.EMAFgDice), sc.Fold)
	}
}
