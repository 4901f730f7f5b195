package plan

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nnrunner/nnrunner/stages/dataset"
	"github.com/nnrunner/nnrunner/stages/fingerprint"
	"github.com/nnrunner/nnrunner/stages/pyjson"
)

// Inputs are a raw dataset and its fingerprint, checked to belong together.
type Inputs struct {
	Dataset         *dataset.Dataset
	Fingerprint     *fingerprint.Fingerprint
	FingerprintPath string
	Info            DatasetInfo
}

// LoadInputs reads the raw dataset folder and the fingerprint (a
// dataset_fingerprint.json file or a folder holding one) and refuses a
// fingerprint whose case or channel count differs from the dataset's.
func LoadInputs(datasetDir, fingerprintPath string) (*Inputs, error) {
	d, err := dataset.Load(datasetDir)
	if err != nil {
		return nil, err
	}
	fpPath := fingerprintPath
	if st, err := os.Stat(fpPath); err == nil && st.IsDir() {
		fpPath = filepath.Join(fpPath, fingerprint.FileName)
	}
	fp, err := fingerprint.ReadFile(fpPath)
	if err != nil {
		return nil, err
	}
	djPath := filepath.Join(datasetDir, "dataset.json")
	if len(fp.Spacings) != len(d.Cases) || len(fp.Channels) != len(d.Channels) {
		return nil, fmt.Errorf("fingerprint %s describes %d cases with %d channels, but %s lists %d cases with %d channels: the fingerprint belongs to another dataset; compute the fingerprint of %s",
			fpPath, len(fp.Spacings), len(fp.Channels), djPath, len(d.Cases), len(d.Channels), datasetDir)
	}
	rw, err := ReaderWriterFor(d.FileEnding, d.ReaderWriter)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", djPath, err)
	}
	labels, _ := d.JSON.Get("labels")
	nLabels := 0
	if o, ok := labels.(*pyjson.Object); ok {
		nLabels = o.Len()
	}
	return &Inputs{
		Dataset:         d,
		Fingerprint:     fp,
		FingerprintPath: fpPath,
		Info: DatasetInfo{
			Name:              filepath.Base(filepath.Clean(datasetDir)),
			Channels:          d.Channels,
			NumLabelKeys:      nLabels,
			NumTraining:       d.NumTraining,
			ImageReaderWriter: rw,
		},
	}, nil
}

// CaseIDs returns the dataset's case identifiers (sorted).
func (in *Inputs) CaseIDs() []string {
	ids := make([]string, len(in.Dataset.Cases))
	for i, c := range in.Dataset.Cases {
		ids[i] = c.ID
	}
	return ids
}

// readerWriters is upstream's automatic selection order with the file
// endings each reader/writer claims (spec §2.4).
var readerWriters = []struct {
	name    string
	endings []string
}{
	{"NaturalImage2DIO", []string{".png", ".bmp", ".tif"}},
	{"SimpleITKIO", []string{".nii.gz", ".nrrd", ".mha", ".gipl"}},
	{"Tiff3DIO", []string{".tif", ".tiff"}},
	{"NibabelIO", []string{".nii", ".nii.gz"}},
	{"NibabelIOWithReorient", []string{".nii", ".nii.gz"}},
}

// ReaderWriterFor returns the image reader/writer class name upstream
// records in the plans: overwrite when it names a known class, otherwise
// the first class claiming the file ending. Unlike upstream it does not
// open an example image to confirm the choice.
func ReaderWriterFor(fileEnding, overwrite string) (string, error) {
	if overwrite != "" {
		for _, rw := range readerWriters {
			if rw.name == overwrite {
				return overwrite, nil
			}
		}
	}
	ending := strings.ToLower(fileEnding)
	for _, rw := range readerWriters {
		if slices.Contains(rw.endings, ending) {
			return rw.name, nil
		}
	}
	return "", fmt.Errorf("no image reader/writer handles file_ending %q (known: .nii.gz, .nii, .nrrd, .mha, .gipl, .png, .bmp, .tif, .tiff)", fileEnding)
}

// copyFile copies src to dst byte for byte.
func copyFile(dst, src string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

func fileExists(path string) (bool, error) {
	_, err := os.Stat(path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}
