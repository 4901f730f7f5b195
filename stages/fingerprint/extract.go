package fingerprint

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/nnrunner/nnrunner/stages/crop"
	"github.com/nnrunner/nnrunner/stages/dataset"
	"github.com/nnrunner/nnrunner/stages/imageio"
	"github.com/nnrunner/nnrunner/stages/nprand"
	"github.com/nnrunner/nnrunner/stages/npstat"
)

// Upstream constants (fingerprint_extractor.py).
const (
	totalSamples = 100_000_000 // int(10e7 // n_cases) draws per case and channel
	sampleSeed   = 1234        // np.random.RandomState(1234), fresh per case
)

// Options configure Extract.
type Options struct {
	// Threads is the number of cases processed at once; <= 0 means
	// runtime.GOMAXPROCS(0).
	Threads int
	// Verify runs upstream's dataset integrity checks (as dataset.Verify,
	// on the same single read of every case) and fails with a
	// *dataset.IntegrityError listing every problem.
	Verify bool
	// Log receives progress messages; nil discards them.
	Log hclog.Logger
}

// Extract computes the fingerprint of the raw dataset in datasetDir as
// upstream's DatasetFingerprintExtractor does. Cases are read by a pool of
// opts.Threads workers and only their cropped foreground (or their
// samples, whichever is smaller) is kept, so memory stays bounded by the
// sample count rather than the dataset size.
func Extract(ctx context.Context, datasetDir string, opts Options) (*Fingerprint, error) {
	return extract(ctx, datasetDir, opts, totalSamples)
}

// extract is Extract with the pooled sample count as a parameter (tests
// use small counts to exercise every storage mode).
func extract(ctx context.Context, datasetDir string, opts Options, total int) (*Fingerprint, error) {
	threads := opts.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	log := opts.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	ds, err := dataset.Load(datasetDir)
	if err != nil {
		if opts.Verify {
			return nil, &dataset.IntegrityError{Dir: datasetDir, Problems: []dataset.Problem{{File: "dataset.json", Msg: err.Error()}}}
		}
		return nil, err
	}
	// With Verify, the integrity checks run on the data read for the
	// fingerprint; every problem is collected into one report.
	var problems []dataset.Problem
	if opts.Verify {
		problems = ds.CheckLayout()
	}
	if len(ds.Cases) == 0 {
		if len(problems) > 0 {
			return nil, &dataset.IntegrityError{Dir: datasetDir, Problems: problems}
		}
		return nil, fmt.Errorf("fingerprint %s: no training cases found in imagesTr", datasetDir)
	}
	nSamples := total / len(ds.Cases)
	nch := len(ds.Channels)
	log.Info("extracting fingerprint", "dataset", datasetDir, "cases", len(ds.Cases), "channels", nch,
		"samples_per_case", nSamples, "verify", opts.Verify)

	cases := make([]*caseData, len(ds.Cases))
	caseProblems := make([][]dataset.Problem, len(ds.Cases))
	var bufs buffers
	err = parallel(ctx, len(ds.Cases), threads, func(i int) error {
		var err error
		if opts.Verify {
			cases[i], caseProblems[i] = analyzeVerified(ds, ds.Cases[i], nSamples, &bufs)
		} else {
			cases[i], err = analyzeCase(ds.Cases[i], nch, nSamples, &bufs)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("fingerprint %s: %w", datasetDir, err)
	}
	for _, p := range caseProblems {
		problems = append(problems, p...)
	}
	if len(problems) > 0 {
		return nil, &dataset.IntegrityError{Dir: datasetDir, Problems: problems}
	}

	f := &Fingerprint{
		ShapesAfterCrop: make([][3]int, len(cases)),
		Spacings:        make([][3]float64, len(cases)),
	}
	rel := make([]float64, len(cases))
	for i, c := range cases {
		f.ShapesAfterCrop[i] = c.shape
		f.Spacings[i] = c.spacing
		rel[i] = c.relSize
	}
	f.MedianRelativeSizeAfterCropping = npstat.Median64(rel)

	// Upstream concatenates the per-case draws with np.concatenate; a case
	// without foreground contributes an empty list, which promotes the
	// pooled samples, and so all statistics, to float64.
	promote, some := false, false
	for _, c := range cases {
		promote = promote || c.nfg == 0
		some = some || c.nfg > 0
	}
	if !some {
		return nil, fmt.Errorf("fingerprint %s: no case has foreground (label > 0) inside its nonzero region; "+
			"the intensity statistics need labelled foreground", datasetDir)
	}
	if promote {
		log.Info("a case has no foreground: statistics are computed in float64, as upstream's concatenation does")
		f.Channels, err = newSampleSet[float64](cases, nch, nSamples).stats(ctx, threads)
	} else {
		f.Channels, err = newSampleSet[float32](cases, nch, nSamples).stats(ctx, threads)
	}
	if err != nil {
		return nil, fmt.Errorf("fingerprint %s: %w", datasetDir, err)
	}
	return f, nil
}

// caseData is what is kept of one case after reading it.
type caseData struct {
	shape   [3]int
	spacing [3]float64
	relSize float64
	nfg     int // foreground voxels inside the crop
	// fg holds per channel the foreground values in C order when nfg is at
	// most the sample count; the draws are then replayed from them.
	fg [][]float32
	// samples holds per channel the drawn values when nfg exceeds the
	// sample count (storing the draws is then smaller).
	samples [][]float32
}

// analyzeCase is upstream's analyze_case: read, crop to nonzero, collect
// the foreground (seg > 0) of every channel.
func analyzeCase(c dataset.Case, nch, nSamples int, bufs *buffers) (*caseData, error) {
	img, err := imageio.ReadImagesInto(c.Images, bufs.get())
	if err != nil {
		return nil, fmt.Errorf("case %s: %w", c.ID, err)
	}
	defer bufs.put(img.Data)
	seg, err := imageio.ReadSegInto(c.Label, bufs.get())
	if err != nil {
		return nil, fmt.Errorf("case %s: %w", c.ID, err)
	}
	defer bufs.put(seg.Data)
	if img.Shape[0] != nch {
		return nil, fmt.Errorf("case %s has %d channel(s), dataset.json declares %d", c.ID, img.Shape[0], nch)
	}
	if seg.Shape[0] != 1 || [3]int(seg.Shape[1:]) != [3]int(img.Shape[1:]) {
		return nil, fmt.Errorf("case %s: label %s has shape %v, the images %v", c.ID, c.Label, seg.Shape, img.Shape)
	}
	// Upstream asserts this in collect_foreground_intensities.
	if hasNaN(img.Data) {
		return nil, fmt.Errorf("case %s: the images contain NaN values; replace them (e.g. with 0) or run with verify to see every problem", c.ID)
	}
	if hasNaN(seg.Data) {
		return nil, fmt.Errorf("case %s: label file %s contains NaN values", c.ID, c.Label)
	}
	d, err := summarize(img, seg, nSamples)
	if err != nil {
		return nil, fmt.Errorf("case %s: %w", c.ID, err)
	}
	return d, nil
}

func hasNaN(a []float32) bool {
	for _, x := range a {
		if x != x {
			return true
		}
	}
	return false
}

// analyzeVerified is analyzeCase with the dataset integrity checks: it
// returns the case's problems instead of an error. Cases with missing
// files (reported by CheckLayout) are skipped.
func analyzeVerified(ds *dataset.Dataset, c dataset.Case, nSamples int, bufs *buffers) (*caseData, []dataset.Problem) {
	for _, p := range append(slices.Clone(c.Images), c.Label) {
		if _, err := os.Stat(p); err != nil {
			return nil, nil
		}
	}
	problem := func(path string, err error) []dataset.Problem {
		return []dataset.Problem{{File: ds.RelPath(path), Msg: err.Error()}}
	}
	img, err := imageio.ReadImagesInto(c.Images, bufs.get())
	if err != nil {
		return nil, problem(c.Images[0], fmt.Errorf("cannot read the images of case %s: %w", c.ID, err))
	}
	defer bufs.put(img.Data)
	seg, err := imageio.ReadSegInto(c.Label, bufs.get())
	if err != nil {
		return nil, problem(c.Label, fmt.Errorf("cannot read label file: %w", err))
	}
	defer bufs.put(seg.Data)
	if p := ds.CheckCase(c, img, seg); len(p) > 0 {
		return nil, p
	}
	d, err := summarize(img, seg, nSamples)
	if err != nil {
		return nil, problem(c.Images[0], err)
	}
	return d, nil
}

// buffers recycles the voxel slices of summarized cases (nothing of them
// is kept), so that reading a dataset does not allocate and clear two
// volumes per case.
type buffers struct{ pool sync.Pool }

// get returns a recycled slice, or nil when there is none.
func (b *buffers) get() []float32 {
	if p, ok := b.pool.Get().(*[]float32); ok {
		return *p
	}
	return nil
}

// put hands s back for reuse; the caller must not use it afterwards.
func (b *buffers) put(s []float32) { b.pool.Put(&s) }

// maxForeground is the most foreground voxels a case may have: the sampling
// draws int32 indices, as numpy's randint does below 2^31.
const maxForeground = 1 << 31

// summarize crops a case to its nonzero region and keeps what the
// fingerprint needs. Only the crop box matters: the foreground is the
// voxels inside it with seg > 0 (upstream marks background outside the
// filled mask -1, which is not foreground either), so no cropped copy is
// made.
func summarize(img, seg *imageio.Image, nSamples int) (*caseData, error) {
	nch := img.Shape[0]
	shape := crop.Shape(img.Shape[1:])
	box, err := crop.NonzeroBox(img.Data, nch, shape)
	if err != nil {
		return nil, err
	}
	d := &caseData{
		shape:   box.Shape(),
		spacing: img.Spacing,
		relSize: float64(box.Shape().Len()) / float64(shape.Len()),
	}
	// Offsets of the foreground voxels within a channel, in C order.
	var at []int
	nz := box[2][1] - box[2][0]
	for x := box[0][0]; x < box[0][1]; x++ {
		for y := box[1][0]; y < box[1][1]; y++ {
			off := (x*shape[1]+y)*shape[2] + box[2][0]
			for z, s := range seg.Data[off : off+nz] {
				if s > 0 {
					at = append(at, off+z)
				}
			}
		}
	}
	d.nfg = len(at)
	if d.nfg == 0 {
		return d, nil
	}
	if d.nfg > maxForeground {
		return nil, fmt.Errorf("%d foreground voxels; the intensity sampling supports at most %d (2^31) per case", d.nfg, maxForeground)
	}
	n := shape.Len()
	fg := make([][]float32, nch)
	for ch := range nch {
		vals := make([]float32, d.nfg)
		chData := img.Data[ch*n : (ch+1)*n]
		for k, i := range at {
			vals[k] = chData[i]
		}
		fg[ch] = vals
	}
	if d.nfg <= nSamples {
		d.fg = fg
		return d, nil
	}
	rs := nprand.New(sampleSeed)
	idx := make([]int32, npstat.BlockSize)
	d.samples = make([][]float32, nch)
	for ch := range nch {
		out := make([]float32, nSamples)
		for p := 0; p < nSamples; p += len(idx) {
			ix := idx[:min(len(idx), nSamples-p)]
			rs.Indices(ix, d.nfg)
			for k, j := range ix {
				out[p+k] = fg[ch][j]
			}
		}
		d.samples[ch] = out
	}
	return d, nil
}

// parallel runs fn(0..n-1) on up to threads goroutines and returns the
// error of the lowest index that failed (deterministic), or ctx's error.
func parallel(ctx context.Context, n, threads int, fn func(i int) error) error {
	errs := make([]error, n)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(threads, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				errs[i] = fn(i)
			}
		}()
	}
	var ctxErr error
feed:
	for i := range n {
		select {
		case jobs <- i:
		case <-ctx.Done():
			ctxErr = ctx.Err()
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if ctxErr != nil {
		return ctxErr
	}
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
