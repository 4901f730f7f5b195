package train

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nnrunner/nnrunner/stages/nn/unet"
)

// SegLayerMarker marks the segmentation heads, which pretrained weights do
// not overwrite (upstream load_pretrained_weights).
const SegLayerMarker = ".seg_layers."

// firstConv is the weight whose input dimension is the number of image
// channels.
const firstConv = "encoder.stages.0.0.convs.0.conv.weight"

// LoadPretrained copies every parameter of the weights file at path into
// model except the segmentation heads. Every other parameter of model must
// be present with the same shape; keys may use upstream's aliases or a
// "module." prefix, and extra keys are ignored. It returns the number of
// parameters copied; on error the model is unchanged.
func LoadPretrained(model *unet.Model, path string) (int, error) {
	src, err := ReadWeights(path)
	if err != nil {
		return 0, fmt.Errorf("pretrained weights: %w", err)
	}
	canon := make(map[string]unet.Tensor, len(src))
	for k, t := range src {
		canon[unet.CanonicalName(strings.TrimPrefix(k, "module."))] = t
	}
	keep := func(name string) bool { return strings.Contains(name, SegLayerMarker) }
	use := make(map[string]unet.Tensor)
	for _, p := range model.Params() {
		if keep(p.Name) {
			continue
		}
		t, ok := canon[p.Name]
		if !ok {
			return 0, fmt.Errorf("pretrained weights %s: key %q is missing: the pretrained network has another architecture (number of stages or blocks); "+
				"pretrain with the finetuning dataset's plans (transfer stage) and preprocess the pretraining data with them", path, p.Name)
		}
		if !slices.Equal(t.Shape, p.Shape) {
			cause := "features or kernel sizes differ: the plans were not transferred from the finetuning dataset to the pretraining dataset (transfer stage)"
			if p.Name == firstConv && len(t.Shape) > 1 && len(p.Shape) > 1 && t.Shape[1] != p.Shape[1] {
				cause = fmt.Sprintf("the pretrained network takes %d input channels, this dataset has %d", t.Shape[1], p.Shape[1])
			}
			return 0, fmt.Errorf("pretrained weights %s: key %q has shape %v there but %v in this network: %s", path, p.Name, t.Shape, p.Shape, cause)
		}
		use[p.Name] = t
	}
	if err := model.Load(use, keep); err != nil {
		return 0, fmt.Errorf("pretrained weights %s: %w", path, err)
	}
	return len(use), nil
}
