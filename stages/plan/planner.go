package plan

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/nnrunner/nnrunner/stages/fingerprint"
	"github.com/nnrunner/nnrunner/stages/npstat"
	"github.com/nnrunner/nnrunner/stages/plans"
	"github.com/nnrunner/nnrunner/stages/pyjson"
)

// Constants of upstream's default ExperimentPlanner (spec §4.1).
const (
	anisotropyThreshold  = 3
	baseFeatures         = 32
	maxFeatures3D        = 320
	maxFeatures2D        = 512
	referenceValue3D     = 560000000
	referenceValue2D     = 85000000
	referenceVRAMGB      = 8
	referenceBatchSize3D = 2
	referenceBatchSize2D = 12
	minFeatureMapEdge    = 4
	minBatchSize         = 2
	maxDatasetCovered    = 0.05
	lowresThreshold      = 0.25
	lowresSpacingGrowth  = 1.03
	maxNumPool           = 999999

	// DefaultGPUMemoryTargetGB is upstream's -gpu_memory_target default.
	DefaultGPUMemoryTargetGB = 8
)

// Configuration names the planner produces.
const (
	Config2D               = "2d"
	Config3DFullres        = "3d_fullres"
	Config3DLowres         = "3d_lowres"
	Config3DCascadeFullres = "3d_cascade_fullres"
)

// DatasetInfo is the planner's view of a raw dataset (dataset.json).
type DatasetInfo struct {
	Name              string   // raw folder name, e.g. "Dataset004_HippoPre"
	Channels          []string // channel_names values in channel order
	NumLabelKeys      int      // number of keys of "labels" (background, ignore and regions included)
	NumTraining       int      // numTraining
	ImageReaderWriter string   // class name written to the plans, e.g. "SimpleITKIO"
}

// Options are the user's planning choices.
type Options struct {
	PlansName              string    // plans identifier and data_identifier prefix
	GPUMemoryTargetGB      float64   // scales the VRAM reference (upstream 8)
	OverwriteTargetSpacing []float64 // fullres target spacing (file axis order) instead of the derived one; nil for none
	// Configurations selects what to write among 2d, 3d_fullres and
	// 3d_lowres (3d_cascade_fullres comes with the last two); nil for all.
	Configurations []string
	Overrides      plans.Overrides
}

// Plan runs upstream's default ExperimentPlanner.plan_experiment on a
// fingerprint (spec §4) and returns the plans. Overrides replace the
// derived values before the topology is computed and are recorded under
// plans.KeyOverrides.
func Plan(ds DatasetInfo, fp *fingerprint.Fingerprint, opt Options, log hclog.Logger) (*plans.Plans, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if err := checkOptions(ds, fp, &opt); err != nil {
		return nil, err
	}
	p := &planner{ds: ds, fp: fp, opt: opt, log: log, cache: map[string]int64{}}
	return p.plan()
}

func checkOptions(ds DatasetInfo, fp *fingerprint.Fingerprint, opt *Options) error {
	if opt.PlansName == "" {
		opt.PlansName = plans.DefaultPlansName
	}
	if opt.GPUMemoryTargetGB == 0 {
		opt.GPUMemoryTargetGB = DefaultGPUMemoryTargetGB
	}
	if !(opt.GPUMemoryTargetGB > 0) {
		return fmt.Errorf("gpu_memory_target_gb must be > 0, got %v", opt.GPUMemoryTargetGB)
	}
	if opt.OverwriteTargetSpacing != nil {
		if len(opt.OverwriteTargetSpacing) != 3 {
			return fmt.Errorf("overwrite_target_spacing must have 3 values (file axis order), got %v", opt.OverwriteTargetSpacing)
		}
		for _, s := range opt.OverwriteTargetSpacing {
			if !(s > 0) {
				return fmt.Errorf("overwrite_target_spacing %v: values must be > 0", opt.OverwriteTargetSpacing)
			}
		}
	}
	for _, c := range opt.Configurations {
		if c != Config2D && c != Config3DFullres && c != Config3DLowres {
			return fmt.Errorf("unknown configuration %q (the planner makes %s, %s and %s)", c, Config2D, Config3DFullres, Config3DLowres)
		}
	}
	if err := opt.Overrides.Validate(); err != nil {
		return err
	}
	switch {
	case len(ds.Channels) == 0:
		return fmt.Errorf("dataset %s has no channels", ds.Name)
	case ds.NumLabelKeys < 1:
		return fmt.Errorf("dataset %s has no labels", ds.Name)
	case ds.NumTraining < 1:
		return fmt.Errorf("dataset %s: numTraining is %d", ds.Name, ds.NumTraining)
	case len(fp.Channels) != len(ds.Channels):
		return fmt.Errorf("the fingerprint has intensity statistics for %d channels but dataset %s has %d", len(fp.Channels), ds.Name, len(ds.Channels))
	case len(fp.Spacings) == 0 || len(fp.Spacings) != len(fp.ShapesAfterCrop):
		return fmt.Errorf("the fingerprint has %d spacings and %d shapes; want one of each per case", len(fp.Spacings), len(fp.ShapesAfterCrop))
	}
	for i := range fp.Spacings {
		for a := range 3 {
			if !(fp.Spacings[i][a] > 0) || fp.ShapesAfterCrop[i][a] < 1 {
				return fmt.Errorf("the fingerprint's case %d has spacing %v and shape %v; want positive values", i, fp.Spacings[i], fp.ShapesAfterCrop[i])
			}
		}
	}
	return nil
}

type planner struct {
	ds    DatasetInfo
	fp    *fingerprint.Fingerprint
	opt   Options
	log   hclog.Logger
	cache map[string]int64 // feature-map estimates by (patch, strides)
}

func (p *planner) wants(name string) bool {
	return p.opt.Configurations == nil || slices.Contains(p.opt.Configurations, name)
}

func (p *planner) plan() (*plans.Plans, error) {
	target := p.fullresTargetSpacing()
	fwd, bwd := transpose(target)
	targetT := permute(target, fwd)

	newShapes := make([][]float64, len(p.fp.ShapesAfterCrop))
	for i, shape := range p.fp.ShapesAfterCrop {
		newShapes[i] = make([]float64, 3)
		for a := range 3 {
			newShapes[i][a] = float64(int(math.RoundToEven(p.fp.Spacings[i][a] / target[a] * float64(shape[a]))))
		}
	}
	medianShapeT := permute(columnMedian(newShapes), fwd)
	approxVoxels := prodF(medianShapeT) * float64(p.ds.NumTraining)

	var fullres, lowres *plans.Configuration
	if medianShapeT[0] != 1 {
		var err error
		if fullres, err = p.configuration(targetT, medianShapeT, false, Config3DFullres, approxVoxels); err != nil {
			return nil, err
		}
		if lowres, err = p.lowres(fullres, medianShapeT); err != nil {
			return nil, err
		}
		fullres.BatchDice = lowres != nil
	}
	plan2d, err := p.configuration(targetT[1:], medianShapeT[1:], false, Config2D, approxVoxels)
	if err != nil {
		return nil, err
	}
	plan2d.BatchDice = true

	spacings := make([][]float64, len(p.fp.Spacings))
	shapes := make([][]float64, len(p.fp.ShapesAfterCrop))
	for i := range spacings {
		spacings[i] = p.fp.Spacings[i][:]
		shapes[i] = make([]float64, 3)
		for a, s := range p.fp.ShapesAfterCrop[i] {
			shapes[i][a] = float64(s)
		}
	}
	medSpacing := permute(columnMedian(spacings), fwd)
	medShape := permute(columnMedian(shapes), fwd)
	medShapeInt := make([]int, 3)
	for i, s := range medShape {
		medShapeInt[i] = int(math.RoundToEven(s))
	}

	fg, err := intensityProperties(p.fp)
	if err != nil {
		return nil, err
	}
	out := plans.New(plans.Header{
		DatasetName:                      p.ds.Name,
		PlansName:                        p.opt.PlansName,
		OriginalMedianSpacingAfterTransp: medSpacing,
		OriginalMedianShapeAfterTransp:   medShapeInt,
		ImageReaderWriter:                p.ds.ImageReaderWriter,
		TransposeForward:                 fwd,
		TransposeBackward:                bwd,
		ExperimentPlannerUsed:            plans.DefaultExperimentPlanner,
		LabelManager:                     plans.DefaultLabelManager,
		ForegroundIntensityProperties:    fg,
	})
	var made []string
	add := func(c *plans.Configuration) {
		out.SetConfiguration(c.Name, c.Object())
		made = append(made, c.Name)
	}
	if p.wants(Config2D) {
		add(plan2d)
	}
	if lowres != nil && p.wants(Config3DLowres) {
		if fullres != nil && p.wants(Config3DFullres) {
			lowres.NextStage = Config3DCascadeFullres
		}
		add(lowres)
	}
	if fullres != nil && p.wants(Config3DFullres) {
		add(fullres)
		if lowres != nil && p.wants(Config3DLowres) {
			cascade := pyjson.NewObject()
			cascade.Set("inherits_from", Config3DFullres)
			cascade.Set("previous_stage", Config3DLowres)
			out.SetConfiguration(Config3DCascadeFullres, cascade)
			made = append(made, Config3DCascadeFullres)
		}
	}
	for _, want := range p.opt.Configurations {
		if slices.Contains(made, want) {
			continue
		}
		reason := "image size difference to 3d_fullres is too small"
		if medianShapeT[0] == 1 {
			reason = "2-D dataset"
		}
		p.log.Info("configuration not planned for this dataset", "configuration", want, "reason", reason)
	}
	if len(made) == 0 {
		return nil, fmt.Errorf("dataset %s: none of the requested configurations %s can be planned", p.ds.Name, strings.Join(p.opt.Configurations, ", "))
	}
	out.SetOverrides(p.opt.Overrides)
	if err := out.Validate(); err != nil {
		return nil, fmt.Errorf("planned plans are invalid: %w", err)
	}
	return out, nil
}

// fullresTargetSpacing is determine_fullres_target_spacing (spec §4.2).
func (p *planner) fullresTargetSpacing() []float64 {
	if p.opt.OverwriteTargetSpacing != nil {
		return slices.Clone(p.opt.OverwriteTargetSpacing)
	}
	n := len(p.fp.Spacings)
	target := make([]float64, 3)
	size := make([]float64, 3)
	col := make([]float64, n)
	for a := range 3 {
		for i := range n {
			col[i] = p.fp.Spacings[i][a]
		}
		target[a] = percentile(col, 50)
		for i := range n {
			col[i] = float64(p.fp.ShapesAfterCrop[i][a])
		}
		size[a] = percentile(col, 50)
	}
	w := argmax(target)
	maxOtherSp, minOtherSz := math.Inf(-1), math.Inf(1)
	for a := range 3 {
		if a != w {
			maxOtherSp = max(maxOtherSp, target[a])
			minOtherSz = min(minOtherSz, size[a])
		}
	}
	anisoSpacing := target[w] > anisotropyThreshold*maxOtherSp
	anisoVoxels := size[w]*anisotropyThreshold < minOtherSz
	if anisoSpacing && anisoVoxels {
		for i := range n {
			col[i] = p.fp.Spacings[i][w]
		}
		t := percentile(col, 10)
		if t < maxOtherSp {
			t = max(maxOtherSp, t) + 1e-5
		}
		target[w] = t
	}
	return target
}

// lowres is the 3d_lowres search of plan_experiment (spec §4.10 step 3); it
// returns nil when no lowres configuration is warranted.
func (p *planner) lowres(fullres *plans.Configuration, medianShapeT []float64) (*plans.Configuration, error) {
	medianVox := prodF(medianShapeT)
	patchVox := prodF(toFloats(fullres.PatchSize))
	lowSp := slices.Clone(fullres.Spacing)
	var lowres *plans.Configuration
	for patchVox/medianVox < lowresThreshold {
		mx := slices.Max(lowSp)
		anyAniso := false
		for _, s := range lowSp {
			if mx/s > 2 {
				anyAniso = true
			}
		}
		for i, s := range lowSp {
			if !anyAniso || mx/s > 2 {
				lowSp[i] = s * lowresSpacingGrowth
			}
		}
		scaled := make([]float64, 3)
		rounded := make([]float64, 3)
		for i := range scaled {
			scaled[i] = fullres.Spacing[i] / lowSp[i] * medianShapeT[i]
			rounded[i] = math.RoundToEven(scaled[i])
		}
		medianVox = prodF(scaled)
		var err error
		lowres, err = p.configuration(slices.Clone(lowSp), rounded, true, Config3DLowres, medianVox*float64(p.ds.NumTraining))
		if err != nil {
			return nil, err
		}
		patchVox = prodF(toFloats(lowres.PatchSize))
		p.log.Debug("3d_lowres candidate", "spacing", lowSp, "patch_size", lowres.PatchSize, "median_shape", rounded)
	}
	if prodF(medianShapeT)/medianVox < 2 {
		if lowres != nil {
			p.log.Info("dropping 3d_lowres: image size difference to 3d_fullres is too small", "fullres_median_shape", medianShapeT)
		}
		return nil, nil
	}
	return lowres, nil
}

// configuration is get_plans_for_configuration (spec §4.5).
func (p *planner) configuration(spacing, medianShape []float64, medianIsInt bool, name string, approxVoxels float64) (*plans.Configuration, error) {
	dim := len(spacing)
	for _, s := range spacing {
		if !(s > 0) {
			return nil, fmt.Errorf("%s: spacing %v must be > 0", name, spacing)
		}
	}
	medianShape = medianShape[:dim]
	maxFeat, refVal, refBS := maxFeatures3D, float64(referenceValue3D), referenceBatchSize3D
	if dim == 2 {
		maxFeat, refVal, refBS = maxFeatures2D, referenceValue2D, referenceBatchSize2D
	}
	base := baseFeatures
	ov := p.opt.Overrides
	if ov.FeaturesBase > 0 {
		base = ov.FeaturesBase
	}
	if ov.FeaturesMax > 0 {
		maxFeat = ov.FeaturesMax
	}
	features := func(n int) []int {
		f := make([]int, n)
		for i := range f {
			f[i] = min(maxFeat, base<<i)
		}
		return f
	}

	var initial []float64
	overridePatch := overridePatchFor(ov.PatchSize, dim)
	if overridePatch != nil {
		initial = toFloats(overridePatch)
	} else {
		tmp := make([]float64, dim)
		for i, s := range spacing {
			tmp[i] = 1 / s
		}
		edge := 256.0 * 256 * 256
		exp := 1.0 / 3
		if dim == 2 {
			edge, exp = 2048*2048, 1.0/2
		}
		f := math.Pow(edge/prodF(tmp), exp)
		initial = make([]float64, dim)
		for i, t := range tmp {
			initial[i] = math.RoundToEven(t * f)
			if medianShape[i] < initial[i] {
				initial[i] = medianShape[i]
			}
		}
	}
	topo := PoolConvProps(spacing, initial, minFeatureMapEdge, maxNumPool)
	estimate := p.estimate(topo, features)
	reference := refVal * (p.opt.GPUMemoryTargetGB / referenceVRAMGB)
	for overridePatch == nil && float64(estimate)/float64(refBS)*2 > reference {
		ratios := make([]float64, dim)
		for i := range ratios {
			ratios[i] = float64(topo.PatchSize[i]) / medianShape[i]
		}
		a := lastArgmax(ratios)
		tmp := toFloats(topo.PatchSize)
		tmp[a] -= float64(topo.Divisible[a])
		div := PoolConvProps(spacing, tmp, minFeatureMapEdge, maxNumPool).Divisible
		patch := toFloats(topo.PatchSize)
		patch[a] -= float64(div[a])
		if patch[a] < 1 {
			return nil, fmt.Errorf("%s: cannot shrink the patch to fit %v GB (feature-map estimate %d)", name, p.opt.GPUMemoryTargetGB, estimate)
		}
		topo = PoolConvProps(spacing, patch, minFeatureMapEdge, maxNumPool)
		estimate = p.estimate(topo, features)
	}

	bs := int(math.RoundToEven(reference / float64(estimate) * float64(refBS)))
	bs5 := int(math.RoundToEven(approxVoxels * maxDatasetCovered / prodF(toFloats(topo.PatchSize))))
	batch := max(min(bs, bs5), minBatchSize)
	if ov.BatchSize > 0 {
		batch = ov.BatchSize
	}

	schemes, masks := p.normalization()
	data, seg, prob := plans.DefaultResampling()
	return &plans.Configuration{
		Name:                    name,
		DataIdentifier:          p.opt.PlansName + "_" + name,
		PreprocessorName:        plans.DefaultPreprocessor,
		BatchSize:               batch,
		PatchSize:               topo.PatchSize,
		MedianImageSizeInVoxels: slices.Clone(medianShape),
		MedianImageSizeIsInt:    medianIsInt,
		Spacing:                 slices.Clone(spacing),
		NormalizationSchemes:    schemes,
		UseMaskForNorm:          masks,
		ResamplingData:          data,
		ResamplingSeg:           seg,
		ResamplingProbabilities: prob,
		Architecture:            plans.NewPlainConvUNet(dim, features(topo.NumStages()), topo.KernelSizes, topo.Strides),
	}, nil
}

// overridePatchFor returns the override patch for a configuration of dim
// axes: a 3-entry override applies to 3-D configurations and its last two
// entries to 2d; a 2-entry override to 2d only.
func overridePatchFor(ps []int, dim int) []int {
	switch {
	case len(ps) == dim:
		return ps
	case len(ps) == 3 && dim == 2:
		return ps[1:]
	}
	return nil
}

// estimate returns the feature-map size of the PlainConvUNet for topo,
// cached by (patch, strides) as upstream does.
func (p *planner) estimate(topo Topology, features func(int) []int) int64 {
	key := fmt.Sprint(topo.PatchSize, topo.Strides)
	if e, ok := p.cache[key]; ok {
		return e
	}
	n := topo.NumStages()
	arch := plans.NewPlainConvUNet(len(topo.PatchSize), features(n), topo.KernelSizes, topo.Strides)
	e := FeatureMapSize(topo.PatchSize, arch.FeaturesPerStage, arch.Strides, arch.NConvPerStage, arch.NConvPerStageDecoder, p.ds.NumLabelKeys)
	p.cache[key] = e
	return e
}

// normalization maps channel names to schemes (spec §4.7).
func (p *planner) normalization() ([]string, []bool) {
	useMask := p.fp.MedianRelativeSizeAfterCropping < 3.0/4
	schemes := make([]string, len(p.ds.Channels))
	masks := make([]bool, len(p.ds.Channels))
	for i, ch := range p.ds.Channels {
		s, maskable := NormalizationScheme(ch)
		schemes[i] = s
		masks[i] = useMask && maskable
	}
	return schemes, masks
}

// NormalizationScheme returns the normalisation class upstream picks for a
// channel name (case-insensitive) and whether that scheme leaves voxels
// outside the nonzero mask at zero when use_mask_for_norm is true.
func NormalizationScheme(channel string) (scheme string, maskable bool) {
	switch strings.ToLower(channel) {
	case "ct":
		return "CTNormalization", false
	case "nonorm":
		return "NoNormalization", false
	case "zscore":
		return "ZScoreNormalization", true
	case "rescale_to_0_1":
		return "RescaleTo01Normalization", false
	case "rgb_to_0_1":
		return "RGBTo01Normalization", false
	}
	return "ZScoreNormalization", true
}

// transpose is determine_transpose (spec §4.3).
func transpose(target []float64) (fwd, bwd []int) {
	m := argmax(target)
	fwd = []int{m}
	for i := range target {
		if i != m {
			fwd = append(fwd, i)
		}
	}
	bwd = make([]int, len(fwd))
	for i, a := range fwd {
		bwd[a] = i
	}
	return fwd, bwd
}

// percentile is np.percentile(v, q) (method "linear") of float64 values.
func percentile(v []float64, q float64) float64 {
	s := slices.Sorted(slices.Values(v))
	n := len(s)
	h := float64(n-1) * (q / 100)
	lo := math.Floor(h)
	t := h - lo
	l := int(lo)
	a, b := s[l], s[min(l+1, n-1)]
	d := b - a
	if t < 0.5 {
		return a + d*t
	}
	return b - d*(1-t)
}

// columnMedian is np.median(rows, axis=0).
func columnMedian(rows [][]float64) []float64 {
	out := make([]float64, len(rows[0]))
	col := make([]float64, len(rows))
	for a := range out {
		for i, r := range rows {
			col[i] = r[a]
		}
		out[a] = npstat.Median64(col)
	}
	return out
}

// argmax returns the first index of the maximum (np.argmax).
func argmax(v []float64) int {
	m := 0
	for i, x := range v {
		if x > v[m] {
			m = i
		}
	}
	return m
}

// lastArgmax returns the last index of the maximum, as np.argsort(v)[-1]
// does for short vectors (stable sort).
func lastArgmax(v []float64) int {
	m := 0
	for i, x := range v {
		if x >= v[m] {
			m = i
		}
	}
	return m
}

func permute(v []float64, order []int) []float64 {
	out := make([]float64, len(order))
	for i, a := range order {
		out[i] = v[a]
	}
	return out
}

// prodF multiplies left to right in float64 (np.prod of a short array).
func prodF(v []float64) float64 {
	p := 1.0
	for _, x := range v {
		p *= x
	}
	return p
}

func toFloats(v []int) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// intensityProperties returns the fingerprint's
// foreground_intensity_properties_per_channel object, which the plans copy.
func intensityProperties(fp *fingerprint.Fingerprint) (*pyjson.Object, error) {
	v, err := fp.PyJSON()
	if err != nil {
		return nil, err
	}
	fg, _ := v.(*pyjson.Object).Get("foreground_intensity_properties_per_channel")
	return fg.(*pyjson.Object), nil
}
