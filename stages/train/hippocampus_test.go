//go:build hippocampus

package train

// The real-data experiment of issue 7, opt-in (go test -tags hippocampus
// -run TestHippocampus -timeout 0 ./stages/train): MSD Hippocampus from
// ../shared split by splits_suggested.json, preprocessed with upstream's
// plans (the finetuning dataset's, and the ones transferred to the
// pretraining dataset), pretraining on fold all, then finetuning on 20
// finetuning cases against the same training from scratch, both
// validated on fold 0's held-out cases. The budget comes from HIPPO_EPOCHS,
// HIPPO_ITERS, HIPPO_VAL_ITERS and HIPPO_BATCH (small defaults).

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/nnrunner/nnrunner/internal/sharedtest"
	"github.com/nnrunner/nnrunner/pipeline/stage"
	"github.com/nnrunner/nnrunner/stages/preprocess"
	"github.com/nnrunner/nnrunner/stages/pyjson"
	"github.com/nnrunner/nnrunner/stages/splits"
)

// sharedDir returns ../shared, skipping unless it holds the msd-hippocampus
// data.
func sharedDir(t *testing.T) string {
	t.Helper()
	sharedtest.Path(t, "data", "msd-hippocampus")
	return sharedtest.Dir(t)
}

func envInt(name string, def int) int64 {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return int64(v)
	}
	return int64(def)
}

// rawSubset links the cases listed in golden/raw/<name>/CASES.txt into a
// raw dataset folder.
func rawSubset(t *testing.T, shared, work, name string) string {
	t.Helper()
	src := filepath.Join(shared, "data", "msd-hippocampus")
	dst := filepath.Join(work, "raw", name)
	must(t, os.MkdirAll(filepath.Join(dst, "imagesTr"), 0o755))
	must(t, os.MkdirAll(filepath.Join(dst, "labelsTr"), 0o755))
	b, err := os.ReadFile(filepath.Join(shared, "golden", "raw", name, "dataset.json"))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dst, "dataset.json"), b, 0o644))
	ids, ok := sharedtest.ListedCases(t, filepath.Join(shared, "golden", "raw", name))
	if !ok {
		t.Fatalf("golden dataset %s has no CASES.txt", name)
	}
	for _, id := range ids {
		for _, p := range [][2]string{{"imagesTr/" + id + "_0000.nii.gz", "imagesTr/" + id + "_0000.nii.gz"}, {"labelsTr/" + id + ".nii.gz", "labelsTr/" + id + ".nii.gz"}} {
			if err := os.Symlink(filepath.Join(src, p[0]), filepath.Join(dst, p[1])); err != nil && !os.IsExist(err) {
				t.Fatal(err)
			}
		}
	}
	return dst
}

func runStage(t *testing.T, st stage.Stage, out string, with map[string]any) {
	t.Helper()
	w := stage.Values{}
	for _, p := range st.Spec().Params {
		if p.Default != nil {
			w[p.Name] = p.Default
		}
	}
	for k, v := range with {
		w[k] = v
	}
	if _, err := os.Stat(filepath.Join(out, ".done")); err == nil {
		return
	}
	must(t, os.MkdirAll(out, 0o755))
	log := hclog.New(&hclog.LoggerOptions{Name: st.Spec().Type, Output: os.Stderr, Level: hclog.Info})
	start := time.Now()
	must(t, st.Run(context.Background(), &stage.Request{With: w, OutDir: out, Threads: 2, Log: log}))
	t.Logf("%s: %.0f s", st.Spec().Type, time.Since(start).Seconds())
	must(t, os.WriteFile(filepath.Join(out, ".done"), nil, 0o644))
}

func summaryDice(t *testing.T, out string) string {
	o, err := pyjson.ReadObject(filepath.Join(out, FolderName, SummaryPath))
	must(t, err)
	mean, _ := o.Get("mean")
	fg, _ := o.Get("foreground_mean")
	d1, _ := mean.(*pyjson.Object).Get("1")
	d2, _ := mean.(*pyjson.Object).Get("2")
	g := func(x any) any { v, _ := x.(*pyjson.Object).Get("Dice"); return v }
	return fmt.Sprintf("anterior %.4f, posterior %.4f, mean %.4f", g(d1), g(d2), g(fg))
}

func TestHippocampus(t *testing.T) {
	shared := sharedDir(t)
	work := os.Getenv("HIPPO_WORK")
	if work == "" {
		work = t.TempDir()
	}
	up := filepath.Join(shared, "golden", "upstream")
	pre := map[string]string{}
	for name, pl := range map[string]string{
		"Dataset004_HippoPre":  filepath.Join(up, "Dataset004_HippoPre", "nnUNetPlans_pretrain.json"),
		"Dataset005_HippoFine": filepath.Join(up, "Dataset005_HippoFine", "nnUNetPlans.json"),
	} {
		out := filepath.Join(work, "pre", name)
		runStage(t, preprocess.New(), out, map[string]any{"dataset": rawSubset(t, shared, work, name), "plans": pl})
		pre[name] = filepath.Join(out, preprocess.OutputData)
	}
	// 20 finetuning cases from fold 0's training list, validated on fold 0.
	folds, err := splits.Load(filepath.Join(up, "Dataset005_HippoFine", "splits_final.json"))
	must(t, err)
	ft := []splits.Fold{{Train: folds[0].Train[:20], Val: folds[0].Val}}
	splitsPath := filepath.Join(work, "splits_20.json")
	must(t, splits.Save(splitsPath, ft))

	budget := map[string]any{
		"epochs": envInt("HIPPO_EPOCHS", 2), "iterations_per_epoch": envInt("HIPPO_ITERS", 4),
		"val_iterations": envInt("HIPPO_VAL_ITERS", 2), "batch_size": envInt("HIPPO_BATCH", 2), "num_workers": int64(2),
	}
	with := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range budget {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	ptOut := filepath.Join(work, "pretrain")
	runStage(t, NewPretrain(), ptOut, with(map[string]any{"preprocessed": pre["Dataset004_HippoPre"],
		"plans": filepath.Join(up, "Dataset004_HippoPre", "nnUNetPlans_pretrain.json"), "final_validation": false}))
	ftPlans := filepath.Join(up, "Dataset005_HippoFine", "nnUNetPlans.json")
	ftOut := filepath.Join(work, "finetune")
	runStage(t, NewFinetune(), ftOut, with(map[string]any{"preprocessed": pre["Dataset005_HippoFine"], "plans": ftPlans,
		"splits": splitsPath, "pretrained": filepath.Join(ptOut, FolderName, FinalName+WeightsSuffix)}))
	scOut := filepath.Join(work, "scratch")
	runStage(t, NewTrain(), scOut, with(map[string]any{"preprocessed": pre["Dataset005_HippoFine"], "plans": ftPlans, "splits": splitsPath}))
	t.Logf("budget %v", budget)
	t.Logf("finetuned: %s", summaryDice(t, ftOut))
	t.Logf("scratch:   %s", summaryDice(t, scOut))
}
