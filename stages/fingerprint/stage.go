package fingerprint

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/nnrunner/nnrunner/pipeline/stage"
)

// Stage is the `fingerprint` stage type: it writes the dataset's
// dataset_fingerprint.json as output `fingerprint`.
type Stage struct {
	samples int // pooled draws per channel; upstream's 1e8 (tests use fewer)
}

// New returns the fingerprint stage.
func New() *Stage { return &Stage{samples: totalSamples} }

// Spec describes the stage type.
func (*Stage) Spec() stage.Spec {
	return stage.Spec{
		Type:    "fingerprint",
		Version: 1,
		Doc: "Extract nnU-Net's dataset fingerprint (dataset_fingerprint.json): shapes after cropping to the " +
			"nonzero region, spacings and foreground intensity statistics, identical to upstream nnU-Net v2.",
		Params: []stage.Param{
			{Name: "dataset", Kind: stage.Path, Required: true,
				Doc: "raw dataset folder (dataset.json, imagesTr, labelsTr)"},
			{Name: "verify", Kind: stage.Bool, Default: true,
				Doc: "run the dataset integrity check first and fail with every problem found"},
		},
	}
}

// Outputs lists the fingerprint file.
func (*Stage) Outputs(stage.Values) ([]stage.Output, error) {
	return []stage.Output{{Name: "fingerprint", Path: FileName, Doc: "dataset_fingerprint.json as upstream writes it"}}, nil
}

// Run extracts the fingerprint into req.OutDir.
func (s *Stage) Run(ctx context.Context, req *stage.Request) error {
	dir, err := req.With.String("dataset")
	if err != nil {
		return err
	}
	verify := true
	if req.With.Has("verify") {
		if verify, err = req.With.Bool("verify"); err != nil {
			return err
		}
	}
	f, err := extract(ctx, dir, Options{Threads: req.Threads, Verify: verify, Log: req.Log}, s.samples)
	if err != nil {
		return err
	}
	out := filepath.Join(req.OutDir, FileName)
	if err := f.WriteFile(out); err != nil {
		return fmt.Errorf("fingerprint: %w", err)
	}
	req.Log.Info("wrote fingerprint", "path", out, "cases", len(f.ShapesAfterCrop))
	return nil
}
