// Package synthesize generates deterministic synthetic nnU-Net raw datasets:
// small 3-D volumes with CT-like or MR-like intensities, a body, an organ
// (a textured bright ellipsoid whose position, size and orientation vary per
// case) and an optional lesion inside it. Equal configurations give
// byte-identical datasets.
package synthesize

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/nnrunner/nnrunner/stages/imageio/nifti"
)

// Modality selects the intensity model.
type Modality string

// Supported modalities.
const (
	CT Modality = "CT" // int16 Hounsfield units: air -1000, tissue ~40, organ ~130, bone ~700
	MR Modality = "MR" // float32, arbitrary units with a smooth bias field; channel name "T2"
)

// Label values written to the label maps.
const (
	Background = 0
	Organ      = 1
	Lesion     = 2
)

// FileEnding is the file ending of every image and label file.
const FileEnding = ".nii.gz"

// Config describes a synthetic dataset.
type Config struct {
	// Name is the dataset folder name, e.g. "Dataset900_SynthCT".
	Name string
	// Modality is CT or MR.
	Modality Modality
	// Prefix starts every case identifier (<prefix>_<NNN>).
	Prefix string
	// Train is the number of training cases (imagesTr/labelsTr).
	Train int
	// Test is the number of held-out cases (imagesTs/labelsTs), numbered
	// after the training cases.
	Test int
	// Seed selects the random stream; each case draws from its own stream
	// derived from Seed and its index.
	Seed uint64
	// Shape is the nominal number of voxels per axis, file order (x, y, z).
	Shape [3]int
	// Spacing is the nominal voxel size in mm, file order (x, y, z).
	Spacing [3]float64
	// Jitter is the relative per-case variation of shape and spacing, in
	// [0, 0.5).
	Jitter float64
	// Lesions adds a lesion (label 2) inside every organ.
	Lesions bool
	// Channels is the number of image channels: 1, or 2 for MR (T2 and an
	// ADC-like map). 0 means 1.
	Channels int
}

// channels returns the number of channels, defaulting to 1.
func (c *Config) channels() int { return max(1, c.Channels) }

// Validate reports the first problem with c.
func (c *Config) Validate() error {
	switch {
	case c.Name == "" || strings.ContainsAny(c.Name, `/\`) || c.Name == "." || c.Name == "..":
		return fmt.Errorf("dataset name %q must be a plain folder name such as Dataset900_Synth", c.Name)
	case c.Modality != CT && c.Modality != MR:
		return fmt.Errorf("modality %q: want %q or %q", c.Modality, CT, MR)
	case c.Prefix == "" || strings.ContainsAny(c.Prefix, `/\`):
		return fmt.Errorf("case prefix %q must be a non-empty file name part", c.Prefix)
	case c.Train < 1:
		return fmt.Errorf("training cases %d: want at least 1", c.Train)
	case c.Test < 0:
		return fmt.Errorf("test cases %d: want 0 or more", c.Test)
	case c.Train+c.Test > 999:
		return fmt.Errorf("%d cases: at most 999", c.Train+c.Test)
	case c.Channels < 0 || c.Channels > 2 || (c.Channels == 2 && c.Modality != MR):
		return fmt.Errorf("channels %d: want 1, or 2 for MR", c.Channels)
	case !(c.Jitter >= 0 && c.Jitter < 0.5):
		return fmt.Errorf("jitter %g: want 0 <= jitter < 0.5", c.Jitter)
	}
	for i := range c.Shape {
		if c.Shape[i] < 8 || c.Shape[i] > 1024 {
			return fmt.Errorf("shape %v: every axis needs 8 to 1024 voxels", c.Shape)
		}
		if !(c.Spacing[i] > 0 && c.Spacing[i] < 100) {
			return fmt.Errorf("spacing %v: every axis needs a voxel size in (0, 100) mm", c.Spacing)
		}
	}
	return nil
}

// CaseID returns the identifier of case i.
func (c *Config) CaseID(i int) string { return fmt.Sprintf("%s_%03d", c.Prefix, i) }

// ChannelNames returns the dataset.json channel names: "CT", or "T2" and
// "ADC" for MR.
func (c *Config) ChannelNames() []string {
	if c.Modality == CT {
		return []string{"CT"}
	}
	return []string{"T2", "ADC"}[:c.channels()]
}

// Generate writes the dataset into dir/<cfg.Name>, which must not exist yet
// or be empty, using up to workers goroutines (one case each). It returns
// the dataset folder.
func Generate(ctx context.Context, dir string, cfg Config, workers int) (string, error) {
	if err := cfg.Validate(); err != nil {
		return "", fmt.Errorf("synthesize: %w", err)
	}
	root := filepath.Join(dir, cfg.Name)
	if entries, err := os.ReadDir(root); err == nil && len(entries) > 0 {
		return "", fmt.Errorf("synthesize: %s is not empty; choose another name or remove it", root)
	}
	subdirs := []string{"imagesTr", "labelsTr"}
	if cfg.Test > 0 {
		subdirs = append(subdirs, "imagesTs", "labelsTs")
	}
	for _, s := range subdirs {
		if err := os.MkdirAll(filepath.Join(root, s), 0o755); err != nil {
			return "", fmt.Errorf("synthesize: %w", err)
		}
	}
	if err := writeDatasetJSON(filepath.Join(root, "dataset.json"), &cfg); err != nil {
		return "", err
	}

	n := cfg.Train + cfg.Test
	workers = max(1, min(workers, n))
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = writeCase(root, &cfg, i)
			}
		}()
	}
feed:
	for i := 0; i < n; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("synthesize: %w", err)
	}
	if err := errors.Join(errs...); err != nil {
		return "", fmt.Errorf("synthesize: %w", err)
	}
	return root, nil
}

// writeCase generates case i and writes its image and label files.
func writeCase(root string, cfg *Config, i int) error {
	imgDir, labDir := "imagesTr", "labelsTr"
	if i >= cfg.Train {
		imgDir, labDir = "imagesTs", "labelsTs"
	}
	id := cfg.CaseID(i)
	v := generateCase(cfg, i)
	h := v.header()
	for c, img := range v.images {
		path := filepath.Join(root, imgDir, fmt.Sprintf("%s_%04d%s", id, c, FileEnding))
		var err error
		if cfg.Modality == CT {
			hu := make([]int16, len(img))
			for j, x := range img {
				hu[j] = int16(math.RoundToEven(max(-1024, min(3071, float64(x)))))
			}
			err = nifti.WriteFile(path, h, hu)
		} else {
			err = nifti.WriteFile(path, h, img)
		}
		if err != nil {
			return err
		}
	}
	return nifti.WriteFile(filepath.Join(root, labDir, id+FileEnding), h, v.labels)
}

// writeDatasetJSON writes dataset.json in nnU-Net's format (labels in
// value order).
func writeDatasetJSON(path string, cfg *Config) error {
	labels := `"background": 0,` + "\n" + `        "organ": 1`
	if cfg.Lesions {
		labels += ",\n" + `        "lesion": 2`
	}
	desc := fmt.Sprintf("synthetic %s dataset generated by nnrunner synthesize (seed %d, %d training and %d held-out cases)",
		cfg.Modality, cfg.Seed, cfg.Train, cfg.Test)
	quote := func(s string) string {
		b, _ := json.Marshal(s)
		return string(b)
	}
	var channels []string
	for i, name := range cfg.ChannelNames() {
		channels = append(channels, fmt.Sprintf("%q: %s", fmt.Sprint(i), quote(name)))
	}
	text := fmt.Sprintf(`{
    "channel_names": {
        %s
    },
    "labels": {
        %s
    },
    "numTraining": %d,
    "file_ending": %s,
    "name": %s,
    "description": %s
}
`, strings.Join(channels, ",\n        "), labels, cfg.Train, quote(FileEnding), quote(cfg.Name), quote(desc))
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return fmt.Errorf("synthesize: %w", err)
	}
	return nil
}
