package train

import (
	"fmt"
	"strings"

	"github.com/nnrunner/nnrunner/stages/nn/unet"
	"github.com/nnrunner/nnrunner/stages/plans"
)

// LoadModel rebuilds the network of a training checkpoint for inference:
// weightsPath is a checkpoint's .safetensors file (e.g. the `checkpoint`
// output), its sidecar lies next to it, and pl are the plans it was
// trained with. The sidecar gives the configuration, channels, classes,
// patch size and mirroring axes.
func LoadModel(weightsPath string, pl *plans.Plans) (*unet.Model, *Sidecar, error) {
	base, ok := strings.CutSuffix(weightsPath, WeightsSuffix)
	if !ok {
		return nil, nil, fmt.Errorf("load model: %s is not a %s checkpoint file", weightsPath, WeightsSuffix)
	}
	sc, err := ReadSidecar(base + SidecarSuffix)
	if err != nil {
		return nil, nil, err
	}
	if pl.PlansName() != sc.PlansName {
		return nil, nil, fmt.Errorf("load model: %s was trained with plans %q, not %q", weightsPath, sc.PlansName, pl.PlansName())
	}
	cfg, err := pl.Configuration(sc.Configuration)
	if err != nil {
		return nil, nil, fmt.Errorf("load model %s: %w", weightsPath, err)
	}
	arch, err := unet.ArchFromPlans(cfg.Architecture)
	if err != nil {
		return nil, nil, fmt.Errorf("load model %s: %w", weightsPath, err)
	}
	m, err := unet.New(unet.Config{Arch: arch, InputChannels: sc.InputChannels, NumClasses: sc.NumClasses}, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("load model %s: %w", weightsPath, err)
	}
	w, err := ReadWeights(weightsPath)
	if err != nil {
		return nil, nil, err
	}
	if err := m.Load(w, nil); err != nil {
		return nil, nil, fmt.Errorf("load model %s: %w", weightsPath, err)
	}
	return m, sc, nil
}
