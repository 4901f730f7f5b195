// Package transfer implements upstream's move_plans_between_datasets
// (spec §6) and the `transfer` stage type: the plans of the source
// (finetuning) dataset rewritten for the target (pretraining) dataset, so
// that pretrained weights fit the finetuning network.
//
//	transfer:
//	  type: transfer
//	  with:
//	    plans: ${plan_finetune.plans}            # source plans file
//	    dataset: ${datasets.pretrain}            # target raw dataset folder
//	    fingerprint: ${fingerprint_pretrain.fingerprint}
//	    plans_name: nnUNetPlans_pretrain         # target plans identifier
//
// Only dataset_name, plans_name, the data identifiers and
// image_reader_writer change; everything else (topology, patch and batch
// size, normalisation with the source's intensity statistics, recorded
// overrides) is kept verbatim. Beyond upstream the stage also outputs the
// target's dataset.json (upstream forgets it, MIC-DKFZ/nnUNet#2560),
// refuses a target whose channel count differs and warns when a channel's
// normalisation scheme would differ.
package transfer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/nnrunner/nnrunner/pipeline/stage"
	"github.com/nnrunner/nnrunner/stages/plan"
	"github.com/nnrunner/nnrunner/stages/plans"
)

// Version is the implementation version of the transfer stage.
const Version = 1

// Output names.
const (
	OutPlans       = "plans"
	OutDatasetJSON = "dataset_json"
)

// Move rewrites source plans for a target dataset as upstream's
// move_plans_between_datasets does: dataset_name, plans_name (when
// targetPlansName differs from the source's, every data_identifier is
// re-prefixed) and image_reader_writer. src is not modified.
func Move(src *plans.Plans, targetDataset, targetPlansName, readerWriter string) (*plans.Plans, error) {
	out, err := plans.FromObject(src.Object().Clone())
	if err != nil {
		return nil, err
	}
	sourceName := out.PlansName()
	out.SetDatasetName(targetDataset)
	if targetPlansName != sourceName {
		for _, name := range out.ConfigurationNames() {
			cfg, _ := out.RawConfiguration(name)
			v, ok := cfg.Get("data_identifier")
			if !ok {
				continue
			}
			id, isStr := v.(string)
			if !isStr {
				return nil, fmt.Errorf("configuration %q: data_identifier must be a string", name)
			}
			if rest, found := strings.CutPrefix(id, sourceName); found {
				id = targetPlansName + rest
			} else {
				id = targetPlansName + "_" + id
			}
			cfg.Set("data_identifier", id)
		}
	}
	out.SetImageReaderWriter(readerWriter)
	out.SetPlansName(targetPlansName)
	return out, out.Validate()
}

// CheckChannels refuses plans whose configurations expect a different
// number of input channels than the target dataset has, and warns for each
// channel whose normalisation scheme differs from what the target's own
// channel name would select.
func CheckChannels(p *plans.Plans, targetChannels []string, target string, log hclog.Logger) error {
	warned := map[int]bool{}
	for _, name := range p.ConfigurationNames() {
		c, err := p.Configuration(name)
		if err != nil {
			return err
		}
		if len(c.NormalizationSchemes) != len(targetChannels) {
			return fmt.Errorf("plans configuration %q normalises %d channels but target dataset %s has %d (%s): pretrained weights need the same number of input channels",
				name, len(c.NormalizationSchemes), target, len(targetChannels), strings.Join(targetChannels, ", "))
		}
		for i, ch := range targetChannels {
			own, _ := plan.NormalizationScheme(ch)
			if own != c.NormalizationSchemes[i] && !warned[i] {
				warned[i] = true
				log.Warn("normalisation differs between the datasets; pretraining with the source's scheme may not work well",
					"channel", i, "target_channel_name", ch, "source_plans_scheme", c.NormalizationSchemes[i], "target_own_scheme", own)
			}
		}
	}
	return nil
}

// Stage is the transfer stage type.
type Stage struct{}

// New returns the transfer stage type.
func New() *Stage { return &Stage{} }

// Spec describes the transfer stage type.
func (*Stage) Spec() stage.Spec {
	return stage.Spec{
		Type:    "transfer",
		Version: Version,
		Doc:     "Move plans from the finetuning (source) dataset to the pretraining (target) dataset, as nnUNetv2_move_plans_between_datasets: only dataset_name, plans_name, the data identifiers and image_reader_writer change; topology, patch and batch size and the source's normalisation statistics are kept, so pretrained weights fit the finetuning network.",
		Params: []stage.Param{
			{Name: "plans", Kind: stage.Path, Required: true, Doc: "source plans file (<plans_name>.json of the finetuning dataset)"},
			{Name: "dataset", Kind: stage.Path, Required: true, Doc: "target raw dataset folder; its name becomes dataset_name"},
			{Name: "fingerprint", Kind: stage.Path, Required: true, Doc: "target dataset_fingerprint.json (or its folder), checked against the target dataset"},
			{Name: "plans_name", Kind: stage.String, Required: true, Doc: "target plans identifier, e.g. nnUNetPlans_pretrain (use a name other than the target's own plans)"},
			{Name: "configurations", Kind: stage.Strings, Doc: "configurations the source plans must contain, e.g. [3d_fullres]"},
		},
	}
}

// Outputs returns plans (<plans_name>.json) and dataset_json.
func (*Stage) Outputs(with stage.Values) ([]stage.Output, error) {
	name, err := targetName(with)
	if err != nil {
		return nil, err
	}
	return []stage.Output{
		{Name: OutPlans, Path: name + ".json", Doc: "the moved plans"},
		{Name: OutDatasetJSON, Path: plan.DatasetFile, Doc: "the target's raw dataset.json, copied unchanged"},
	}, nil
}

func targetName(with stage.Values) (string, error) {
	name, err := with.String("plans_name")
	if err != nil {
		return "", err
	}
	if err := plans.CheckName(name, "nnUNetPlans_pretrain"); err != nil {
		return "", err
	}
	return name, nil
}

// Run moves the plans and writes the outputs. Nothing is written when any
// input is rejected.
func (*Stage) Run(ctx context.Context, req *stage.Request) error {
	name, err := targetName(req.With)
	if err != nil {
		return err
	}
	srcPath, err := req.With.String("plans")
	if err != nil {
		return err
	}
	dir, err := req.With.String("dataset")
	if err != nil {
		return err
	}
	fpPath, err := req.With.String("fingerprint")
	if err != nil {
		return err
	}
	src, err := plans.Load(srcPath)
	if err != nil {
		return err
	}
	if req.With.Has("configurations") {
		want, err := req.With.Strings("configurations")
		if err != nil {
			return err
		}
		for _, c := range want {
			if _, err := src.Configuration(c); err != nil {
				return fmt.Errorf("source plans must contain configuration %q: %w", c, err)
			}
		}
	}
	in, err := plan.LoadInputs(dir, fpPath)
	if err != nil {
		return err
	}
	if err := CheckChannels(src, in.Info.Channels, dir, req.Log); err != nil {
		return fmt.Errorf("transfer %s to %s: %w", srcPath, dir, err)
	}
	moved, err := Move(src, in.Info.Name, name, in.Info.ImageReaderWriter)
	if err != nil {
		return fmt.Errorf("transfer %s to %s: %w", srcPath, dir, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dj, err := os.ReadFile(filepath.Join(dir, plan.DatasetFile))
	if err != nil {
		return fmt.Errorf("read target dataset.json: %w", err)
	}
	if err := moved.Save(filepath.Join(req.OutDir, name+".json")); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(req.OutDir, plan.DatasetFile), dj, 0o644); err != nil {
		return fmt.Errorf("write dataset.json: %w", err)
	}
	req.Log.Info("moved plans", "source", src.DatasetName()+"/"+src.PlansName(), "target", moved.DatasetName()+"/"+moved.PlansName(),
		"configurations", moved.ConfigurationNames())
	return nil
}
