package fingerprint

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
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
	// Verify runs the dataset integrity check (dataset.Verify) first and
	// fails with its report.
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
	threads := opts.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	log := opts.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	var ds *dataset.Dataset
	var err error
	if opts.Verify {
		ds, err = dataset.Verify(ctx, datasetDir, threads)
	} else {
		ds, err = dataset.Load(datasetDir)
	}
	if err != nil {
		return nil, err
	}
	if len(ds.Cases) == 0 {
		return nil, fmt.Errorf("fingerprint %s: no training cases found in imagesTr", datasetDir)
	}
	nSamples := totalSamples / len(ds.Cases)
	nch := len(ds.Channels)
	log.Info("extracting fingerprint", "dataset", datasetDir, "cases", len(ds.Cases), "channels", nch, "samples_per_case", nSamples)

	cases := make([]*caseData, len(ds.Cases))
	err = parallel(ctx, len(ds.Cases), threads, func(i int) error {
		c, err := analyzeCase(ds.Cases[i], nch, nSamples)
		if err != nil {
			return err
		}
		cases[i] = c
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fingerprint %s: %w", datasetDir, err)
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

	st := newSampleSet(cases, nch, nSamples)
	if st.total == 0 {
		return nil, fmt.Errorf("fingerprint %s: no case has foreground (label > 0) inside its nonzero region; "+
			"the intensity statistics need labelled foreground", datasetDir)
	}
	if f.Channels, err = st.stats(ctx, threads); err != nil {
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
func analyzeCase(c dataset.Case, nch, nSamples int) (*caseData, error) {
	img, err := imageio.ReadImages(c.Images)
	if err != nil {
		return nil, fmt.Errorf("case %s: %w", c.ID, err)
	}
	seg, err := imageio.ReadSeg(c.Label)
	if err != nil {
		return nil, fmt.Errorf("case %s: %w", c.ID, err)
	}
	if img.Shape[0] != nch {
		return nil, fmt.Errorf("case %s has %d channel(s), dataset.json declares %d", c.ID, img.Shape[0], nch)
	}
	shape := crop.Shape{img.Shape[1], img.Shape[2], img.Shape[3]}
	if seg.Shape[0] != 1 || crop.Shape(seg.Shape[1:]) != shape {
		return nil, fmt.Errorf("case %s: label %s has shape %v, the images %v", c.ID, c.Label, seg.Shape, img.Shape)
	}
	res, err := crop.ToNonzero(img.Data, nch, shape, seg.Data)
	if err != nil {
		return nil, fmt.Errorf("case %s: %w", c.ID, err)
	}
	d := &caseData{
		shape:   res.Shape,
		spacing: img.Spacing,
		relSize: float64(res.Shape.Len()) / float64(shape.Len()),
	}
	for _, s := range res.Seg {
		if s > 0 {
			d.nfg++
		}
	}
	if d.nfg == 0 {
		return d, nil
	}
	n := res.Shape.Len()
	fg := make([][]float32, nch)
	for ch := range nch {
		vals := make([]float32, 0, d.nfg)
		chData := res.Data[ch*n : (ch+1)*n]
		for i, s := range res.Seg {
			if s > 0 {
				vals = append(vals, chData[i])
			}
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

// sampleSet is the pooled sample vector of every channel: the
// concatenation, in case order, of nSamples draws per case with
// foreground. It is never materialised; numpy's block-wise float32
// reductions are reproduced block by block.
type sampleSet struct {
	cases    []*caseData
	nch      int
	n        int   // draws per case and channel
	offset   []int // start of each case's draws in the pooled vector; -1 without foreground
	total    int
	nblocks  int
	// shared holds, per block that is not inside one case, its values per
	// channel, assembled from the cases it spans.
	shared map[int][][]float32
}

func newSampleSet(cases []*caseData, nch, n int) *sampleSet {
	s := &sampleSet{cases: cases, nch: nch, n: n, offset: make([]int, len(cases))}
	for i, c := range cases {
		s.offset[i] = -1
		if c.nfg > 0 {
			s.offset[i] = s.total
			s.total += n
		}
	}
	s.nblocks = (s.total + npstat.BlockSize - 1) / npstat.BlockSize
	return s
}

// blockLen returns the length of block k of the pooled vector.
func (s *sampleSet) blockLen(k int) int {
	return min((k+1)*npstat.BlockSize, s.total) - k*npstat.BlockSize
}

// walk replays the draws of case ci, channel ch, starting from the
// generator state rs (ignored for materialised samples), and calls emit
// with consecutive runs of values that never cross a block boundary. pos
// is the position of vals[0] in the pooled vector; idx are the drawn
// foreground indices (nil for materialised samples).
func (s *sampleSet) walk(ci, ch int, rs *nprand.RandomState, idxBuf []int32, valBuf []float32,
	emit func(pos int, vals []float32, idx []int32)) {
	c := s.cases[ci]
	off := s.offset[ci]
	for p := 0; p < s.n; {
		g := off + p
		n := min((g/npstat.BlockSize+1)*npstat.BlockSize-g, s.n-p)
		if c.samples != nil {
			emit(g, c.samples[ch][p:p+n], nil)
		} else {
			idx := idxBuf[:n]
			rs.Indices(idx, c.nfg)
			vals := valBuf[:n]
			fg := c.fg[ch]
			for k, j := range idx {
				vals[k] = fg[j]
			}
			emit(g, vals, idx)
		}
		p += n
	}
}

// stats computes every channel's statistics.
func (s *sampleSet) stats(ctx context.Context, threads int) ([]ChannelStats, error) {
	// Blocks that span two cases are assembled in shared buffers.
	s.shared = make(map[int][][]float32)
	for _, off := range s.offset {
		if off < 0 {
			continue
		}
		for _, k := range []int{off / npstat.BlockSize, (off + s.n - 1) / npstat.BlockSize} {
			start := k * npstat.BlockSize
			if start < off || start+s.blockLen(k) > off+s.n {
				if _, ok := s.shared[k]; !ok {
					bufs := make([][]float32, s.nch)
					for ch := range bufs {
						bufs[ch] = make([]float32, s.blockLen(k))
					}
					s.shared[k] = bufs
				}
			}
		}
	}

	// Pass 1: block sums of the values (mean) and draw counts per
	// foreground voxel (order statistics), per case in parallel. The
	// generator state at the start of every channel is kept for pass 2.
	type caseCounts struct {
		counts [][]int32 // per channel, per foreground voxel (nil for materialised samples)
		states []nprand.RandomState
	}
	sums := make([][]float32, s.nch)
	for ch := range sums {
		sums[ch] = make([]float32, s.nblocks)
	}
	cc := make([]caseCounts, len(s.cases))
	err := parallel(ctx, len(s.cases), threads, func(ci int) error {
		c := s.cases[ci]
		if c.nfg == 0 {
			return nil
		}
		idxBuf := make([]int32, npstat.BlockSize)
		valBuf := make([]float32, npstat.BlockSize)
		rs := nprand.New(sampleSeed)
		var r caseCounts
		if c.samples == nil {
			r.counts = make([][]int32, s.nch)
			r.states = make([]nprand.RandomState, s.nch)
		}
		for ch := range s.nch {
			var counts []int32
			if c.samples == nil {
				r.states[ch] = *rs
				counts = make([]int32, c.nfg)
				r.counts[ch] = counts
			}
			s.walk(ci, ch, rs, idxBuf, valBuf, func(pos int, vals []float32, idx []int32) {
				for _, j := range idx {
					counts[j]++
				}
				s.putBlock(sums[ch], ch, pos, vals)
			})
		}
		cc[ci] = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	means := make([]float32, s.nch)
	for ch := range s.nch {
		means[ch] = s.reduce(sums[ch], ch) / float32(s.total)
	}

	// Pass 2: block sums of the squared deviations (std), replaying draws.
	for ch := range sums {
		clear(sums[ch])
	}
	err = parallel(ctx, len(s.cases)*s.nch, threads, func(job int) error {
		ci, ch := job/s.nch, job%s.nch
		c := s.cases[ci]
		if c.nfg == 0 {
			return nil
		}
		var rs *nprand.RandomState
		if c.samples == nil {
			st := cc[ci].states[ch]
			rs = &st
		}
		idxBuf := make([]int32, npstat.BlockSize)
		valBuf := make([]float32, npstat.BlockSize)
		sq := make([]float32, npstat.BlockSize)
		m := means[ch]
		s.walk(ci, ch, rs, idxBuf, valBuf, func(pos int, vals []float32, _ []int32) {
			d := sq[:len(vals)]
			for k, x := range vals {
				v := x - m
				d[k] = float32(v * v)
			}
			s.putBlock(sums[ch], ch, pos, d)
		})
		return nil
	})
	if err != nil {
		return nil, err
	}

	out := make([]ChannelStats, s.nch)
	for ch := range s.nch {
		variance := s.reduce(sums[ch], ch) / float32(s.total)
		os := s.orderStats(ch, func(ci int) []int32 {
			if cc[ci].counts == nil {
				return nil
			}
			return cc[ci].counts[ch]
		})
		out[ch] = ChannelStats{
			Max:           float64(os.at(s.total - 1)),
			Mean:          float64(means[ch]),
			Median:        npstat.PercentileFunc(s.total, 50, os.at),
			Min:           float64(os.at(0)),
			Percentile005: npstat.PercentileFunc(s.total, 0.5, os.at),
			Percentile995: npstat.PercentileFunc(s.total, 99.5, os.at),
			Std:           float64(float32(math.Sqrt(float64(variance)))),
		}
	}
	return out, nil
}

// putBlock stores the pairwise sum of a whole block, or copies a part of
// a shared block into its buffer (distinct ranges: no locking needed for
// the copy; the map itself is read-only here).
func (s *sampleSet) putBlock(sums []float32, ch, pos int, vals []float32) {
	k := pos / npstat.BlockSize
	start := k * npstat.BlockSize
	if bufs, ok := s.shared[k]; ok {
		copy(bufs[ch][pos-start:], vals)
		return
	}
	sums[k] = npstat.Pairwise(vals)
}

// reduce finishes the shared blocks and accumulates all block sums in
// order, as numpy's buffered reduction does.
func (s *sampleSet) reduce(sums []float32, ch int) float32 {
	for k, bufs := range s.shared {
		sums[k] = npstat.Pairwise(bufs[ch])
	}
	var acc float32
	for _, b := range sums {
		acc += b
	}
	return acc
}

// valueCount is one distinct draw source with its multiplicity.
type valueCount struct {
	v float32
	n int64
}

// orderStatistics answers "the i-th smallest pooled sample" from sorted
// value counts.
type orderStatistics struct {
	vals []float32
	cum  []int64 // cum[i] = number of samples <= vals[i]
}

func (o *orderStatistics) at(i int) float32 {
	k := sort.Search(len(o.cum), func(j int) bool { return o.cum[j] > int64(i) })
	return o.vals[k]
}

func (s *sampleSet) orderStats(ch int, counts func(ci int) []int32) *orderStatistics {
	var vc []valueCount
	for ci, c := range s.cases {
		if c.nfg == 0 {
			continue
		}
		if c.samples != nil {
			for _, v := range c.samples[ch] {
				vc = append(vc, valueCount{v, 1})
			}
			continue
		}
		cnt := counts(ci)
		for j, v := range c.fg[ch] {
			if cnt[j] > 0 {
				vc = append(vc, valueCount{v, int64(cnt[j])})
			}
		}
	}
	slices.SortFunc(vc, func(a, b valueCount) int { return cmp.Compare(a.v, b.v) })
	o := &orderStatistics{vals: make([]float32, 0, len(vc)), cum: make([]int64, 0, len(vc))}
	var run int64
	for _, e := range vc {
		run += e.n
		if len(o.vals) > 0 && o.vals[len(o.vals)-1] == e.v {
			o.cum[len(o.cum)-1] = run
			continue
		}
		o.vals = append(o.vals, e.v)
		o.cum = append(o.cum, run)
	}
	return o
}
