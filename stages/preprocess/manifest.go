package preprocess

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Manifest is the data folder's manifest.json: what the stage wrote.
type Manifest struct {
	PlansName      string                           `json:"plans_name"`
	DatasetName    string                           `json:"dataset_name"`
	Configurations map[string]ManifestConfiguration `json:"configurations"`
}

// ManifestConfiguration lists one configuration's folder and cases.
type ManifestConfiguration struct {
	DataIdentifier string         `json:"data_identifier"`
	Cases          []ManifestCase `json:"cases"`
}

// ManifestCase is one stored case.
type ManifestCase struct {
	ID                   string         `json:"id"`
	Shape                [4]int         `json:"shape"`
	SegDtype             string         `json:"seg_dtype"`
	ClassLocationsCounts map[string]int `json:"class_locations_counts"`
}

// ReadManifest reads dataDir/manifest.json (dataDir is the stage's data
// output).
func ReadManifest(dataDir string) (*Manifest, error) {
	path := filepath.Join(dataDir, ManifestFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return &m, nil
}

// Folder returns the case folder of configuration name and its cases.
func (m *Manifest) Folder(dataDir, name string) (string, []ManifestCase, error) {
	c, ok := m.Configurations[name]
	if !ok {
		return "", nil, fmt.Errorf("configuration %q was not preprocessed in %s (rerun the preprocess stage with it)", name, dataDir)
	}
	return filepath.Join(dataDir, c.DataIdentifier), c.Cases, nil
}
