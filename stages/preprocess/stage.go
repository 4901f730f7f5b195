package preprocess

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/nnrunner/nnrunner/pipeline/stage"
	"github.com/nnrunner/nnrunner/stages/dataset"
	"github.com/nnrunner/nnrunner/stages/npy"
	"github.com/nnrunner/nnrunner/stages/plans"
	"github.com/nnrunner/nnrunner/stages/pyjson"
)

// Output names and paths of the stage.
const (
	OutputData  = "data"
	OutputPlans = "plans"
	// ManifestFile lists, inside the data folder, every configuration and
	// case written.
	ManifestFile = "manifest.json"
	// DatasetFile is the raw dataset.json copied into the data folder.
	DatasetFile = "dataset.json"
	plansPath   = "plans.json"
)

// Stage is the `preprocess` workflow stage.
type Stage struct {
	// create opens a file for writing; tests replace it to simulate a full
	// disk.
	create func(path string) (io.WriteCloser, error)
}

// New returns the preprocess stage.
func New() *Stage {
	return &Stage{create: func(p string) (io.WriteCloser, error) { return os.Create(p) }}
}

// Spec describes the stage.
func (s *Stage) Spec() stage.Spec {
	return stage.Spec{
		Type:    "preprocess",
		Version: 1,
		Doc:     "Crop, normalise and resample a raw dataset with a plans file, like nnUNetv2_preprocess.",
		Params: []stage.Param{
			{Name: "dataset", Kind: stage.Path, Required: true, Doc: "raw dataset folder (dataset.json, imagesTr, labelsTr)"},
			{Name: "plans", Kind: stage.Path, Required: true, Doc: "plans file (its own or transferred from another dataset)"},
			{Name: "configurations", Kind: stage.Strings, Default: []any{"3d_fullres"}, Doc: "configurations to preprocess; each must be in the plans"},
			{Name: "num_workers", Kind: stage.Int, Default: int64(0), Doc: "CPU cores to use; 0 means the engine's thread budget"},
			{Name: "max_in_flight", Kind: stage.Int, Default: int64(0), Doc: "cases held in memory at once; 0 means num_workers"},
		},
	}
}

// Outputs lists the data folder and the copy of the plans.
func (s *Stage) Outputs(with stage.Values) ([]stage.Output, error) {
	return []stage.Output{
		{Name: OutputData, Path: OutputData, Doc: "one folder per configuration (data identifier) with <case>.npy, <case>_seg.npy, <case>.json; manifest.json"},
		{Name: OutputPlans, Path: plansPath, Doc: "the plans file used"},
	}, nil
}

// params are the resolved stage parameters.
type params struct {
	dataset, plans string
	configs        []string
	workers        int
	inFlight       int
}

func parseParams(req *stage.Request) (params, error) {
	var p params
	var err error
	if p.dataset, err = req.With.String("dataset"); err != nil {
		return p, err
	}
	if p.plans, err = req.With.String("plans"); err != nil {
		return p, err
	}
	if p.configs, err = req.With.Strings("configurations"); err != nil {
		return p, err
	}
	if len(p.configs) == 0 {
		return p, fmt.Errorf("parameter \"configurations\": name at least one configuration")
	}
	if req.With.Has("num_workers") {
		if p.workers, err = req.With.Int("num_workers"); err != nil {
			return p, err
		}
	}
	if req.With.Has("max_in_flight") {
		if p.inFlight, err = req.With.Int("max_in_flight"); err != nil {
			return p, err
		}
	}
	if p.workers < 0 || p.inFlight < 0 {
		return p, fmt.Errorf("num_workers (%d) and max_in_flight (%d) must not be negative", p.workers, p.inFlight)
	}
	if p.workers == 0 {
		p.workers = req.Threads
	}
	if p.workers < 1 {
		p.workers = runtime.GOMAXPROCS(0)
	}
	if p.inFlight == 0 {
		p.inFlight = p.workers
	}
	return p, nil
}

// Run preprocesses every training case of the dataset for each requested
// configuration.
func (s *Stage) Run(ctx context.Context, req *stage.Request) error {
	p, err := parseParams(req)
	if err != nil {
		return err
	}
	pl, err := plans.Load(p.plans)
	if err != nil {
		return err
	}
	ds, err := dataset.Load(p.dataset)
	if err != nil {
		return err
	}
	var cfgs []*Config
	for _, name := range p.configs {
		c, err := NewConfig(pl, name, ds.Labels)
		if err != nil {
			return err
		}
		if len(c.Channels) != len(ds.Channels) {
			return fmt.Errorf("plans %s configuration %q normalizes %d channels but dataset %s has %d (channel_names); use plans made for this dataset's modalities",
				p.plans, name, len(c.Channels), p.dataset, len(ds.Channels))
		}
		cfgs = append(cfgs, c)
	}
	raw, err := os.ReadFile(p.plans)
	if err != nil {
		return err
	}
	if err := s.writeBytes(filepath.Join(req.OutDir, plansPath), raw); err != nil {
		return err
	}
	dataDir := filepath.Join(req.OutDir, OutputData)
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	rawDS, err := os.ReadFile(filepath.Join(p.dataset, DatasetFile))
	if err != nil {
		return err
	}
	if err := s.writeBytes(filepath.Join(dataDir, DatasetFile), rawDS); err != nil {
		return err
	}
	manifest := pyjson.NewObject()
	manifest.Set("plans_name", pl.PlansName())
	manifest.Set("dataset_name", pl.DatasetName())
	cm := pyjson.NewObject()
	for _, c := range cfgs {
		start := time.Now()
		entries, err := s.runConfig(ctx, p, ds, c, filepath.Join(dataDir, c.DataIdentifier))
		if err != nil {
			return fmt.Errorf("preprocess %s: %w", c.Name, err)
		}
		o := pyjson.NewObject()
		o.Set("data_identifier", c.DataIdentifier)
		o.Set("cases", entries)
		cm.Set(c.Name, o)
		req.Log.Info("configuration preprocessed", "configuration", c.Name, "folder", c.DataIdentifier,
			"cases", len(ds.Cases), "seconds", time.Since(start).Seconds())
	}
	manifest.Set("configurations", cm)
	b, err := pyjson.Marshal(manifest, pyjson.Options{Indent: 4})
	if err != nil {
		return err
	}
	return s.writeBytes(filepath.Join(dataDir, ManifestFile), b)
}

// runConfig preprocesses all cases for one configuration with at most
// p.inFlight cases in memory; each case resamples with its share of the
// workers. It returns the manifest entries in case order.
func (s *Stage) runConfig(ctx context.Context, p params, ds *dataset.Dataset, c *Config, dir string) ([]any, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := len(ds.Cases)
	inFlight := max(1, min(p.inFlight, p.workers, n))
	perCase := max(1, p.workers/inFlight)
	entries := make([]any, n)
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				e, err := s.runCase(ctx, ds.Cases[i], c, dir, perCase)
				if err != nil {
					errs[i] = fmt.Errorf("case %s: %w", ds.Cases[i].ID, err)
					cancel()
					continue
				}
				entries[i] = e
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	// Report the failure that cancelled the others, not a case that merely
	// saw the cancellation.
	var first error
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, err
		}
		if first == nil {
			first = err
		}
	}
	if first != nil {
		return nil, first
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return entries, nil
}

// runCase reads, preprocesses and writes one case.
func (s *Stage) runCase(ctx context.Context, cs dataset.Case, c *Config, dir string, workers int) (*pyjson.Object, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	img, seg, err := ReadCase(cs.Images, cs.Label)
	if err != nil {
		return nil, err
	}
	out, err := c.Run(ctx, img, seg, workers)
	if err != nil {
		return nil, err
	}
	return s.writeCase(dir, cs.ID, out)
}

// writeCase stores one preprocessed case and returns its manifest entry.
func (s *Stage) writeCase(dir, id string, cs *Case) (*pyjson.Object, error) {
	base := filepath.Join(dir, id)
	if err := s.writeWith(base+".npy", func(w io.Writer) error {
		return npy.Write(w, cs.Shape[:], cs.Data)
	}); err != nil {
		return nil, err
	}
	segShape := []int{1, cs.Shape[1], cs.Shape[2], cs.Shape[3]}
	dtype := "int8"
	if slices.Max(cs.Seg) > 127 {
		dtype = "int16"
	}
	if err := s.writeWith(base+"_seg.npy", func(w io.Writer) error {
		if dtype == "int16" {
			return npy.Write(w, segShape, cs.Seg)
		}
		s8 := make([]int8, len(cs.Seg))
		for i, v := range cs.Seg {
			s8[i] = int8(v)
		}
		return npy.Write(w, segShape, s8)
	}); err != nil {
		return nil, err
	}
	b, err := cs.Properties.MarshalJSON()
	if err != nil {
		return nil, err
	}
	if err := s.writeBytes(base+".json", b); err != nil {
		return nil, err
	}
	e := pyjson.NewObject()
	e.Set("id", id)
	// A copy: a slice of cs.Shape would keep the whole case alive.
	e.Set("shape", slices.Clone(cs.Shape[:]))
	e.Set("seg_dtype", dtype)
	counts := pyjson.NewObject()
	for _, cl := range cs.Properties.ClassLocations {
		counts.Set(cl.Key, len(cl.Coords))
	}
	e.Set("class_locations_counts", counts)
	return e, nil
}

func (s *Stage) writeBytes(path string, b []byte) error {
	return s.writeWith(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// writeWith creates path and fills it with fn. fn writes in large blocks
// (npy.Write encodes 16 Ki elements at a time), so no buffering is added.
func (s *Stage) writeWith(path string, fn func(io.Writer) error) error {
	f, err := s.create(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	err = fn(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
