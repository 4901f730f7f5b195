package subset

import (
	"context"
	"fmt"

	"github.com/nnrunner/nnrunner/pipeline/stage"
)

// OutputDataset is the stage's output: the new raw dataset folder.
const OutputDataset = "dataset"

// Stage is the `subset` workflow stage.
type Stage struct{}

// New returns the subset stage.
func New() *Stage { return &Stage{} }

// Spec describes the stage.
func (s *Stage) Spec() stage.Spec {
	return stage.Spec{
		Type:    "subset",
		Version: 1,
		Doc:     "Copy named cases of a raw dataset into a new raw dataset: training cases to imagesTr/labelsTr, held-out cases to imagesTs/labelsTs, chosen from a JSON file of case lists (e.g. splits_suggested.json).",
		Params: []stage.Param{
			{Name: "dataset", Kind: stage.Path, Required: true, Doc: "source raw dataset folder (dataset.json, imagesTr, labelsTr)"},
			{Name: "lists", Kind: stage.Path, Required: true, Doc: "JSON object of case lists, e.g. {\"pretrain\": [...], \"finetune\": [...]}"},
			{Name: "name", Kind: stage.String, Required: true, Doc: "folder name of the new dataset, e.g. Dataset005_HippoFinetune"},
			{Name: "train", Kind: stage.String, Required: true, Doc: "key of the list of training cases"},
			{Name: "train_count", Kind: stage.Int, Default: int64(0), Doc: "take the first this many training cases; 0 takes all"},
			{Name: "test", Kind: stage.String, Default: "", Doc: "key of the list of held-out cases (training cases are skipped); empty for none"},
			{Name: "test_count", Kind: stage.Int, Default: int64(0), Doc: "take the first this many held-out cases; 0 takes all"},
		},
	}
}

// Outputs lists the dataset folder.
func (s *Stage) Outputs(with stage.Values) ([]stage.Output, error) {
	name, err := with.String("name")
	if err != nil {
		return nil, err
	}
	return []stage.Output{{Name: OutputDataset, Path: name, Doc: "raw dataset: dataset.json, imagesTr, labelsTr, and imagesTs, labelsTs when held-out cases were chosen"}}, nil
}

// Run copies the chosen cases.
func (s *Stage) Run(ctx context.Context, req *stage.Request) error {
	w := req.With
	src, err := w.String("dataset")
	if err != nil {
		return err
	}
	listsPath, err := w.String("lists")
	if err != nil {
		return err
	}
	var sel Selection
	if sel.Name, err = w.String("name"); err != nil {
		return err
	}
	if sel.Train, err = w.String("train"); err != nil {
		return err
	}
	for _, p := range []struct {
		name string
		dst  *int
	}{{"train_count", &sel.TrainCount}, {"test_count", &sel.TestCount}} {
		if w.Has(p.name) {
			if *p.dst, err = w.Int(p.name); err != nil {
				return err
			}
		}
	}
	if w.Has("test") {
		if sel.Test, err = w.String("test"); err != nil {
			return err
		}
	}
	lists, err := Lists(listsPath)
	if err != nil {
		return err
	}
	root, err := Make(ctx, src, req.OutDir, lists, sel, listsPath)
	if err != nil {
		return fmt.Errorf("subset %s: %w", sel.Name, err)
	}
	if req.Log != nil {
		train, test, _ := Choose(lists, sel, listsPath)
		req.Log.Info("dataset written", "path", root, "train", len(train), "test", len(test))
	}
	return nil
}
