// Package plans reads, edits and writes nnU-Net v2 plans files
// (<plans_name>.json, spec §5). The decoded document is kept as an ordered
// JSON object so that a loaded file is written back with upstream's key
// order, unknown keys included; typed accessors resolve configuration
// inheritance and check every field.
package plans

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nnrunner/nnrunner/stages/pyjson"
)

// Values written by upstream's default planner.
const (
	DefaultPlansName         = "nnUNetPlans"
	DefaultPreprocessor      = "DefaultPreprocessor"
	DefaultExperimentPlanner = "ExperimentPlanner"
	DefaultLabelManager      = "LabelManager"
)

// Top-level keys.
const (
	keyDatasetName    = "dataset_name"
	keyPlansName      = "plans_name"
	keyMedianSpacing  = "original_median_spacing_after_transp"
	keyMedianShape    = "original_median_shape_after_transp"
	keyReaderWriter   = "image_reader_writer"
	keyTransposeFwd   = "transpose_forward"
	keyTransposeBwd   = "transpose_backward"
	keyConfigurations = "configurations"
	keyPlannerUsed    = "experiment_planner_used"
	keyLabelManager   = "label_manager"
	keyIntensity      = "foreground_intensity_properties_per_channel"
	keyIntensityOld   = "foreground_intensity_properties_by_modality"
	// KeyOverrides is the top-level key under which the plan stage records
	// user overrides (batch_size, patch_size, features_base, features_max).
	// Upstream ignores unknown keys; a transfer carries it verbatim.
	KeyOverrides = "nnrunner_overrides"
)

// Plans is a plans file. Create one with New, Load or FromObject.
type Plans struct {
	doc  *pyjson.Object
	path string // file it was read from, for error messages; may be ""
}

// Header holds the top-level values of a new plans file.
type Header struct {
	DatasetName                      string
	PlansName                        string
	OriginalMedianSpacingAfterTransp []float64
	OriginalMedianShapeAfterTransp   []int
	ImageReaderWriter                string
	TransposeForward                 []int
	TransposeBackward                []int
	ExperimentPlannerUsed            string
	LabelManager                     string
	// ForegroundIntensityProperties is copied verbatim from the
	// fingerprint: "0" -> {max, mean, median, min, percentile_00_5,
	// percentile_99_5, std}.
	ForegroundIntensityProperties *pyjson.Object
}

// New returns plans with the header's values in upstream's key order and no
// configurations yet; add them with SetConfiguration.
func New(h Header) *Plans {
	d := pyjson.NewObject()
	d.Set(keyDatasetName, h.DatasetName)
	d.Set(keyPlansName, h.PlansName)
	d.Set(keyMedianSpacing, floatsToAny(h.OriginalMedianSpacingAfterTransp))
	d.Set(keyMedianShape, intsToAny(h.OriginalMedianShapeAfterTransp))
	d.Set(keyReaderWriter, h.ImageReaderWriter)
	d.Set(keyTransposeFwd, intsToAny(h.TransposeForward))
	d.Set(keyTransposeBwd, intsToAny(h.TransposeBackward))
	d.Set(keyConfigurations, pyjson.NewObject())
	d.Set(keyPlannerUsed, h.ExperimentPlannerUsed)
	d.Set(keyLabelManager, h.LabelManager)
	fg := h.ForegroundIntensityProperties
	if fg == nil {
		fg = pyjson.NewObject()
	} else {
		fg = fg.Clone()
	}
	d.Set(keyIntensity, fg)
	return &Plans{doc: d}
}

// Load reads and validates the plans file at path.
func Load(path string) (*Plans, error) {
	doc, err := pyjson.ReadObject(path)
	if err != nil {
		return nil, fmt.Errorf("read plans: %w", err)
	}
	p, err := fromObject(doc, path)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// FromObject wraps and validates a decoded plans document. The plans use
// doc directly (no copy).
func FromObject(doc *pyjson.Object) (*Plans, error) {
	return fromObject(doc, "")
}

func fromObject(doc *pyjson.Object, path string) (*Plans, error) {
	p := &Plans{doc: doc, path: path}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Plans) where() string {
	if p.path != "" {
		return "plans " + p.path
	}
	return "plans"
}

// Validate checks the top-level fields and that every configuration
// resolves and parses.
func (p *Plans) Validate() error {
	f := &fields{o: p.doc, where: p.where()}
	f.str(keyDatasetName)
	f.str(keyPlansName)
	fwd := f.ints(keyTransposeFwd)
	bwd := f.ints(keyTransposeBwd)
	f.object(keyConfigurations)
	if f.err != nil {
		return f.err
	}
	if err := checkTranspose(fwd, bwd); err != nil {
		return fmt.Errorf("%s: %w", p.where(), err)
	}
	if _, err := p.ForegroundIntensityProperties(); err != nil {
		return err
	}
	if _, err := p.Overrides(); err != nil {
		return err
	}
	names := p.ConfigurationNames()
	if len(names) == 0 {
		return fmt.Errorf("%s: no configurations", p.where())
	}
	for _, name := range names {
		if _, err := p.Configuration(name); err != nil {
			return err
		}
	}
	return nil
}

func checkTranspose(fwd, bwd []int) error {
	if len(fwd) != 3 || len(bwd) != 3 {
		return fmt.Errorf("transpose_forward and transpose_backward must have 3 entries, have %v and %v", fwd, bwd)
	}
	for i, a := range fwd {
		if a < 0 || a > 2 || bwd[a] != i {
			return fmt.Errorf("transpose_backward %v is not the inverse of transpose_forward %v", bwd, fwd)
		}
	}
	return nil
}

// Object returns the underlying document. Changes to it change the plans.
func (p *Plans) Object() *pyjson.Object {
	return p.doc
}

// Marshal encodes the plans as upstream's save_json does (indent 4,
// insertion order).
func (p *Plans) Marshal() ([]byte, error) {
	return pyjson.Marshal(p.doc, pyjson.Options{Indent: 4})
}

// Save validates the plans and writes them to path (atomically).
func (p *Plans) Save(path string) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if err := pyjson.WriteFile(path, p.doc, pyjson.Options{Indent: 4}); err != nil {
		return fmt.Errorf("save plans: %w", err)
	}
	return nil
}

func (p *Plans) str(key string) string {
	s, _ := p.doc.Get(key)
	v, _ := s.(string)
	return v
}

func (p *Plans) ints(key string) []int {
	f := &fields{o: p.doc, where: p.where()}
	return f.ints(key)
}

// DatasetName returns dataset_name, e.g. "Dataset004_HippoPre".
func (p *Plans) DatasetName() string { return p.str(keyDatasetName) }

// SetDatasetName sets dataset_name.
func (p *Plans) SetDatasetName(s string) { p.doc.Set(keyDatasetName, s) }

// PlansName returns plans_name, e.g. "nnUNetPlans".
func (p *Plans) PlansName() string { return p.str(keyPlansName) }

// SetPlansName sets plans_name.
func (p *Plans) SetPlansName(s string) { p.doc.Set(keyPlansName, s) }

// ImageReaderWriter returns image_reader_writer, e.g. "SimpleITKIO".
func (p *Plans) ImageReaderWriter() string { return p.str(keyReaderWriter) }

// SetImageReaderWriter sets image_reader_writer.
func (p *Plans) SetImageReaderWriter(s string) { p.doc.Set(keyReaderWriter, s) }

// TransposeForward returns the axis permutation applied to data and spacing
// before everything else.
func (p *Plans) TransposeForward() []int { return p.ints(keyTransposeFwd) }

// TransposeBackward returns the inverse of TransposeForward.
func (p *Plans) TransposeBackward() []int { return p.ints(keyTransposeBwd) }

// OriginalMedianSpacingAfterTransp returns the informational median spacing
// in transposed order.
func (p *Plans) OriginalMedianSpacingAfterTransp() []float64 {
	f := &fields{o: p.doc, where: p.where()}
	v, _ := f.floats(keyMedianSpacing)
	return v
}

// OriginalMedianShapeAfterTransp returns the informational median shape in
// transposed order.
func (p *Plans) OriginalMedianShapeAfterTransp() []int { return p.ints(keyMedianShape) }

func (p *Plans) configurations() *pyjson.Object {
	v, _ := p.doc.Get(keyConfigurations)
	o, _ := v.(*pyjson.Object)
	return o
}

// ConfigurationNames returns the configuration names in file order.
func (p *Plans) ConfigurationNames() []string {
	c := p.configurations()
	if c == nil {
		return nil
	}
	return c.Keys()
}

// RawConfiguration returns the configuration object as stored (inheritance
// not resolved); changes to it change the plans.
func (p *Plans) RawConfiguration(name string) (*pyjson.Object, bool) {
	c := p.configurations()
	if c == nil {
		return nil, false
	}
	v, ok := c.Get(name)
	o, isObj := v.(*pyjson.Object)
	return o, ok && isObj
}

// SetConfiguration stores a configuration object under name (appended when
// new, replaced in place otherwise).
func (p *Plans) SetConfiguration(name string, o *pyjson.Object) {
	c := p.configurations()
	if c == nil {
		c = pyjson.NewObject()
		p.doc.Set(keyConfigurations, c)
	}
	c.Set(name, o)
}

// Configuration returns the named configuration with inherits_from resolved
// (parent keys first, child keys override; spec §5) and every field typed.
func (p *Plans) Configuration(name string) (*Configuration, error) {
	merged, err := p.resolve(name, nil)
	if err != nil {
		return nil, err
	}
	return parseConfiguration(name, merged, fmt.Sprintf("%s: configuration %q", p.where(), name))
}

func (p *Plans) resolve(name string, visiting []string) (*pyjson.Object, error) {
	raw, ok := p.RawConfiguration(name)
	if !ok {
		return nil, fmt.Errorf("%s has no configuration %q (available: %s)", p.where(), name, strings.Join(p.ConfigurationNames(), ", "))
	}
	if slices.Contains(visiting, name) {
		return nil, fmt.Errorf("%s: configuration inheritance cycle %s -> %s", p.where(), strings.Join(visiting, " -> "), name)
	}
	v, ok := raw.Get("inherits_from")
	if !ok {
		return raw.Clone(), nil
	}
	parent, isStr := v.(string)
	if !isStr {
		return nil, fmt.Errorf("%s: configuration %q: inherits_from must be a string, got %s", p.where(), name, pyjson.TypeName(v))
	}
	base, err := p.resolve(parent, append(visiting, name))
	if err != nil {
		return nil, fmt.Errorf("configuration %q inherits from %q: %w", name, parent, err)
	}
	for k, v := range raw.All() {
		base.Set(k, v)
	}
	return base.Clone(), nil
}

// IntensityProperties are a channel's foreground intensity statistics from
// the fingerprint; CTNormalization clips to the percentiles and uses mean
// and std.
type IntensityProperties struct {
	Max, Mean, Median, Min, Percentile00_5, Percentile99_5, Std float64
}

// ForegroundIntensityProperties returns the per-channel statistics indexed
// by channel (keys "0", "1", ... in the file). The legacy key
// foreground_intensity_properties_by_modality is accepted.
func (p *Plans) ForegroundIntensityProperties() ([]IntensityProperties, error) {
	v, ok := p.doc.Get(keyIntensity)
	key := keyIntensity
	if !ok {
		v, ok = p.doc.Get(keyIntensityOld)
		key = keyIntensityOld
	}
	if !ok {
		return nil, fmt.Errorf("%s: %q: missing", p.where(), keyIntensity)
	}
	return ParseIntensityProperties(v, fmt.Sprintf("%s: %q", p.where(), key))
}

// ParseIntensityProperties reads a foreground_intensity_properties_per_channel
// object (as in plans and fingerprints); where prefixes error messages.
func ParseIntensityProperties(v any, where string) ([]IntensityProperties, error) {
	o, ok := v.(*pyjson.Object)
	if !ok {
		return nil, fmt.Errorf("%s: want an object, got %s", where, pyjson.TypeName(v))
	}
	out := make([]IntensityProperties, o.Len())
	seen := make([]bool, o.Len())
	for k, e := range o.All() {
		c, err := strconv.Atoi(k)
		if err != nil || c < 0 || c >= len(out) || seen[c] {
			return nil, fmt.Errorf("%s: channel keys must be \"0\" .. \"%d\", got %q", where, len(out)-1, k)
		}
		seen[c] = true
		ch, ok := e.(*pyjson.Object)
		if !ok {
			return nil, fmt.Errorf("%s: channel %q: want an object, got %s", where, k, pyjson.TypeName(e))
		}
		f := &fields{o: ch, where: fmt.Sprintf("%s: channel %q", where, k)}
		num := func(key string) float64 {
			x, ok := f.get(key)
			if !ok {
				return 0
			}
			switch n := x.(type) {
			case float64:
				return n
			case int64:
				return float64(n)
			}
			f.fail(key, "want a number, got %s", pyjson.TypeName(x))
			return 0
		}
		out[c] = IntensityProperties{
			Max: num("max"), Mean: num("mean"), Median: num("median"), Min: num("min"),
			Percentile00_5: num("percentile_00_5"), Percentile99_5: num("percentile_99_5"), Std: num("std"),
		}
		if f.err != nil {
			return nil, f.err
		}
	}
	return out, nil
}

// Overrides are user choices that replace the planner's derived values for
// CPU-sized experiments. Zero values mean "not overridden".
type Overrides struct {
	BatchSize    int   // replaces every configuration's batch size
	PatchSize    []int // transposed axis order; 3 entries: 3-D configurations and (last two) 2d; 2 entries: 2d only
	FeaturesBase int   // features of the first stage (upstream 32)
	FeaturesMax  int   // cap on features per stage (upstream 320 for 3-D, 512 for 2-D)
}

// IsZero reports whether no override is set.
func (o Overrides) IsZero() bool {
	return o.BatchSize == 0 && len(o.PatchSize) == 0 && o.FeaturesBase == 0 && o.FeaturesMax == 0
}

// Object renders the overrides that are set, in a fixed key order.
func (o Overrides) Object() *pyjson.Object {
	obj := pyjson.NewObject()
	if o.BatchSize != 0 {
		obj.Set("batch_size", int64(o.BatchSize))
	}
	if len(o.PatchSize) != 0 {
		obj.Set("patch_size", intsToAny(o.PatchSize))
	}
	if o.FeaturesBase != 0 {
		obj.Set("features_base", int64(o.FeaturesBase))
	}
	if o.FeaturesMax != 0 {
		obj.Set("features_max", int64(o.FeaturesMax))
	}
	return obj
}

// Validate checks the overrides' ranges.
func (o Overrides) Validate() error {
	switch {
	case o.BatchSize < 0:
		return fmt.Errorf("overrides: batch_size %d, want >= 1", o.BatchSize)
	case o.FeaturesBase < 0:
		return fmt.Errorf("overrides: features_base %d, want >= 1", o.FeaturesBase)
	case o.FeaturesMax < 0:
		return fmt.Errorf("overrides: features_max %d, want >= 1", o.FeaturesMax)
	case o.FeaturesBase > 0 && o.FeaturesMax > 0 && o.FeaturesMax < o.FeaturesBase:
		return fmt.Errorf("overrides: features_max %d is below features_base %d", o.FeaturesMax, o.FeaturesBase)
	case len(o.PatchSize) != 0 && len(o.PatchSize) != 2 && len(o.PatchSize) != 3:
		return fmt.Errorf("overrides: patch_size %v, want 2 or 3 entries", o.PatchSize)
	}
	for _, s := range o.PatchSize {
		if s < 1 {
			return fmt.Errorf("overrides: patch_size %v, want entries >= 1", o.PatchSize)
		}
	}
	return nil
}

// Overrides returns the overrides recorded under KeyOverrides (zero when
// absent).
func (p *Plans) Overrides() (Overrides, error) {
	v, ok := p.doc.Get(KeyOverrides)
	if !ok {
		return Overrides{}, nil
	}
	return ParseOverrides(v, fmt.Sprintf("%s: %q", p.where(), KeyOverrides))
}

// ParseOverrides reads an overrides object (the plans' KeyOverrides entry or
// a stage's `overrides` parameter decoded as JSON); where prefixes errors.
func ParseOverrides(v any, where string) (Overrides, error) {
	obj, ok := v.(*pyjson.Object)
	if !ok {
		return Overrides{}, fmt.Errorf("%s: want an object, got %s", where, pyjson.TypeName(v))
	}
	f := &fields{o: obj, where: where}
	var o Overrides
	for k := range obj.All() {
		switch k {
		case "batch_size":
			o.BatchSize = positive(f, k)
		case "patch_size":
			o.PatchSize = f.ints(k)
		case "features_base":
			o.FeaturesBase = positive(f, k)
		case "features_max":
			o.FeaturesMax = positive(f, k)
		default:
			f.fail(k, "unknown override (known: batch_size, patch_size, features_base, features_max)")
		}
	}
	if f.err != nil {
		return Overrides{}, f.err
	}
	if err := o.Validate(); err != nil {
		return Overrides{}, fmt.Errorf("%s: %w", where, err)
	}
	return o, nil
}

// SetOverrides records o under KeyOverrides (removes the key when o is
// zero).
func (p *Plans) SetOverrides(o Overrides) {
	if o.IsZero() {
		p.doc.Delete(KeyOverrides)
		return
	}
	p.doc.Set(KeyOverrides, o.Object())
}

func positive(f *fields, key string) int {
	n := f.integer(key)
	if n < 1 && f.err == nil {
		f.fail(key, "%d, want >= 1", n)
	}
	return n
}

// CheckName reports whether name can be a plans identifier: the plans file
// is <name>.json and data folders are named after it, so it must be a plain
// file name. example is shown in the error (e.g. nnUNetPlans_pretrain).
func CheckName(name, example string) error {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return fmt.Errorf("plans_name %q must be a non-empty name without path separators, e.g. %s", name, example)
	}
	return nil
}
