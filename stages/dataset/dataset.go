// Package dataset models an nnU-Net raw dataset: dataset.json, the cases
// with their channel and label files, and upstream's integrity checks
// (verify_dataset_integrity) collected into one report.
package dataset

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/nnrunner/nnrunner/stages/pyjson"
)

// Case is one training case.
type Case struct {
	ID     string
	Images []string // channel files in channel order (absolute or dataset-relative as resolved)
	Label  string   // label file (may not exist; see Verify)
}

// Dataset is a parsed raw dataset folder.
type Dataset struct {
	Dir string
	// JSON is dataset.json as read, key order kept.
	JSON *pyjson.Object
	// Channels holds channel_names by channel index.
	Channels    []string
	Labels      *Labels
	NumTraining int
	FileEnding  string
	// ReaderWriter is overwrite_image_reader_writer; empty when absent or "None".
	ReaderWriter string
	// Cases are sorted by ID.
	Cases []Case
	// Explicit is true when dataset.json lists the files (`dataset` key).
	Explicit bool
}

// Load reads dir/dataset.json and enumerates the training cases as
// upstream does (spec §2.3). It validates dataset.json but does not open
// image files; run Verify for the full integrity check.
func Load(dir string) (*Dataset, error) {
	path := filepath.Join(dir, "dataset.json")
	obj, err := pyjson.ReadObject(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s is missing: every raw dataset needs a dataset.json", path)
		}
		return nil, fmt.Errorf("read dataset.json: %w", err)
	}
	d, err := parse(dir, obj)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

func parse(dir string, obj *pyjson.Object) (*Dataset, error) {
	d := &Dataset{Dir: dir, JSON: obj}
	var missing []string
	for _, k := range []string{"labels", "numTraining", "file_ending"} {
		if !obj.Has(k) {
			missing = append(missing, k)
		}
	}
	chKey := "channel_names"
	if !obj.Has(chKey) {
		if obj.Has("modality") {
			chKey = "modality"
		} else {
			missing = append(missing, chKey)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("required keys missing: %s", strings.Join(missing, ", "))
	}

	chans, err := channelNames(obj, chKey)
	if err != nil {
		return nil, err
	}
	d.Channels = chans

	lo, ok := mustGet(obj, "labels").(*pyjson.Object)
	if !ok {
		return nil, fmt.Errorf("labels: want an object name -> label value")
	}
	raw := make(map[string]any, lo.Len())
	for k, v := range lo.All() {
		raw[k] = v
	}
	var rco []int
	if v, ok := obj.Get("regions_class_order"); ok {
		rco, err = labelValues(v)
		if err != nil {
			return nil, fmt.Errorf("regions_class_order: %w", err)
		}
	}
	d.Labels, err = parseLabels(lo.Keys(), raw, rco)
	if err != nil {
		return nil, err
	}

	nt, ok := mustGet(obj, "numTraining").(int64)
	if !ok || nt < 0 {
		return nil, fmt.Errorf("numTraining: want a non-negative integer, got %v", mustGet(obj, "numTraining"))
	}
	d.NumTraining = int(nt)

	fe, ok := mustGet(obj, "file_ending").(string)
	if !ok || fe == "" {
		return nil, fmt.Errorf(`file_ending: want a string such as ".nii.gz", got %v`, mustGet(obj, "file_ending"))
	}
	d.FileEnding = fe

	if v, ok := obj.Get("overwrite_image_reader_writer"); ok && v != nil {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("overwrite_image_reader_writer: want a class name string, got %v", v)
		}
		if s != "None" {
			d.ReaderWriter = s
		}
	}

	if v, ok := obj.Get("dataset"); ok {
		d.Explicit = true
		d.Cases, err = explicitCases(dir, v)
	} else {
		d.Cases, err = folderCases(dir, fe)
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

func mustGet(o *pyjson.Object, k string) any {
	v, _ := o.Get(k)
	return v
}

// channelNames reads {"0": name, "1": name, ...}; keys must be 0..n-1.
func channelNames(obj *pyjson.Object, key string) ([]string, error) {
	co, ok := mustGet(obj, key).(*pyjson.Object)
	if !ok || co.Len() == 0 {
		return nil, fmt.Errorf(`%s: want a non-empty object such as {"0": "CT"}`, key)
	}
	out := make([]string, co.Len())
	seen := make([]bool, co.Len())
	for k, v := range co.All() {
		i, err := strconv.Atoi(k)
		if err != nil || i < 0 || i >= co.Len() || seen[i] {
			return nil, fmt.Errorf(`%s: keys must be the channel indices "0".."%d", got %q`, key, co.Len()-1, k)
		}
		name, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s[%q]: want a string, got %v", key, k, v)
		}
		out[i], seen[i] = name, true
	}
	return out, nil
}

// folderCases enumerates imagesTr as upstream's
// get_identifiers_from_splitted_dataset_folder and
// create_lists_from_splitted_dataset_folder do.
func folderCases(dir, ending string) ([]Case, error) {
	files, err := listFiles(filepath.Join(dir, "imagesTr"), ending)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, f := range files {
		if len(f) >= len(ending)+5 {
			ids = append(ids, f[:len(f)-len(ending)-5])
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var cases []Case
	for _, id := range ids {
		re := channelPattern(id, ending)
		c := Case{ID: id, Label: filepath.Join(dir, "labelsTr", id+ending)}
		for _, f := range files {
			if re.MatchString(f) {
				c.Images = append(c.Images, filepath.Join(dir, "imagesTr", f))
			}
		}
		// An identifier cut from a misnamed file has no channel files;
		// Verify reports the file.
		if len(c.Images) > 0 {
			cases = append(cases, c)
		}
	}
	return cases, nil
}

func channelPattern(id, ending string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(id) + `_\d\d\d\d` + regexp.QuoteMeta(ending) + `$`)
}

// listFiles returns the sorted names of the regular files in dir whose
// name ends with ending.
func listFiles(dir, ending string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s is missing: put the training images there (or list them under the `dataset` key)", dir)
		}
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ending) {
			continue
		}
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out, nil
}

// explicitCases reads the `dataset` key: case -> {"images": [...], "label": "..."}.
func explicitCases(dir string, v any) ([]Case, error) {
	o, ok := v.(*pyjson.Object)
	if !ok {
		return nil, fmt.Errorf(`dataset: want an object case -> {"images": [...], "label": "..."}`)
	}
	resolve := func(p string) string {
		p = os.ExpandEnv(p)
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		return p
	}
	var cases []Case
	for id, e := range o.All() {
		eo, ok := e.(*pyjson.Object)
		if !ok {
			return nil, fmt.Errorf("dataset[%q]: want an object with images and label", id)
		}
		imgs, ok := mustGet(eo, "images").([]any)
		if !ok || len(imgs) == 0 {
			return nil, fmt.Errorf("dataset[%q].images: want a non-empty list of file names", id)
		}
		c := Case{ID: id}
		for i, im := range imgs {
			s, ok := im.(string)
			if !ok {
				return nil, fmt.Errorf("dataset[%q].images[%d]: want a file name, got %v", id, i, im)
			}
			c.Images = append(c.Images, resolve(s))
		}
		lab, ok := mustGet(eo, "label").(string)
		if !ok {
			return nil, fmt.Errorf("dataset[%q].label: want a file name", id)
		}
		c.Label = resolve(lab)
		cases = append(cases, c)
	}
	slices.SortFunc(cases, func(a, b Case) int { return strings.Compare(a.ID, b.ID) })
	return cases, nil
}
