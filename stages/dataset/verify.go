package dataset

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/nnrunner/nnrunner/stages/imageio"
)

// Problem is one integrity problem, tied to the file it concerns.
type Problem struct {
	File string // path relative to the dataset folder when inside it
	Msg  string
}

func (p Problem) String() string { return p.File + ": " + p.Msg }

// IntegrityError is returned by Verify; it lists every problem found.
type IntegrityError struct {
	Dir      string
	Problems []Problem
}

func (e *IntegrityError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dataset %s failed the integrity check with %d problem(s); fix them and run again:", e.Dir, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Verify loads the dataset in dir and runs upstream's integrity checks
// (spec §2.6) with threads workers: required dataset.json keys, case count
// against numTraining, missing and extra files, channel counts, consecutive
// labels, and per case (in parallel) readable images, NaN/Inf values,
// image/label shape and spacing agreement and undeclared label values.
// All problems are collected into one *IntegrityError. It returns the
// dataset when there are none.
func Verify(ctx context.Context, dir string, threads int) (*Dataset, error) {
	d, err := Load(dir)
	if err != nil {
		return nil, &IntegrityError{Dir: dir, Problems: []Problem{{File: "dataset.json", Msg: err.Error()}}}
	}
	problems := d.CheckLayout()
	perCase := make([][]Problem, len(d.Cases))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(max(threads, 1), max(len(d.Cases), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				perCase[i] = d.readAndCheck(d.Cases[i])
			}
		}()
	}
	var ctxErr error
feed:
	for i := range d.Cases {
		select {
		case jobs <- i:
		case <-ctx.Done():
			ctxErr = fmt.Errorf("verify dataset %s: %w", d.Dir, ctx.Err())
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if ctxErr != nil {
		return nil, ctxErr
	}
	for _, ps := range perCase {
		problems = append(problems, ps...)
	}
	if len(problems) > 0 {
		return nil, &IntegrityError{Dir: dir, Problems: problems}
	}
	return d, nil
}

// CheckLayout runs the checks that need no image data: dataset.json keys,
// case count against numTraining, missing, extra and misnamed files,
// channel file counts and consecutive labels.
func (d *Dataset) CheckLayout() []Problem {
	v := verifier{d: d}
	v.checkLayout()
	v.checkLabels()
	return v.problems
}

// CheckCase runs the per-case checks on a case's images (all channels, as
// imageio.ReadImages returns them) and segmentation: NaN/Inf values,
// channel count, image/label shape and spacing, undeclared label values.
func (d *Dataset) CheckCase(c Case, img, seg *imageio.Image) []Problem {
	v := verifier{d: d}
	v.checkImage(c, img, seg)
	return v.problems
}

type verifier struct {
	d        *Dataset
	problems []Problem
}

func (v *verifier) addf(file, format string, args ...any) {
	v.problems = append(v.problems, Problem{File: v.rel(file), Msg: fmt.Sprintf(format, args...)})
}

func (v *verifier) rel(p string) string { return v.d.RelPath(p) }

// RelPath returns p relative to the dataset folder (slash-separated) when
// it lies inside it, else p unchanged; problem reports use it.
func (d *Dataset) RelPath(p string) string {
	if r, err := filepath.Rel(d.Dir, p); err == nil && !strings.HasPrefix(r, "..") {
		return filepath.ToSlash(r)
	}
	return p
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// checkLayout checks file presence and naming.
func (v *verifier) checkLayout() {
	d := v.d
	if !d.JSON.Has("channel_names") {
		v.addf("dataset.json", `uses the legacy key "modality"; rename it to "channel_names"`)
	}
	if len(d.Cases) != d.NumTraining {
		v.addf("dataset.json", "numTraining is %d but %d training cases were found; set numTraining to %d or add the missing cases",
			d.NumTraining, len(d.Cases), len(d.Cases))
	}
	if !d.Explicit {
		v.checkFolderNames()
	}
	nch := len(d.Channels)
	// A missing labelsTr is reported once (checkFolderNames), not per case.
	labelsDirMissing := !d.Explicit && !exists(filepath.Join(d.Dir, "labelsTr"))
	for _, c := range d.Cases {
		if d.Explicit {
			for _, im := range c.Images {
				if !exists(im) {
					v.addf(im, "image file of case %s listed in dataset.json does not exist", c.ID)
				}
			}
		} else if len(c.Images) != nch {
			v.addf(filepath.Join(d.Dir, "imagesTr", c.ID+"_0000"+d.FileEnding),
				"case %s has %d channel file(s) but dataset.json declares %d channel(s) (%s); want files %s",
				c.ID, len(c.Images), nch, strings.Join(d.Channels, ", "), channelFileRange(c.ID, nch, d.FileEnding))
		} else {
			for i, im := range c.Images {
				if want := fmt.Sprintf("%s_%04d%s", c.ID, i, d.FileEnding); filepath.Base(im) != want {
					v.addf(im, "unexpected channel file for case %s; want files %s", c.ID, channelFileRange(c.ID, nch, d.FileEnding))
					break
				}
			}
		}
		if !labelsDirMissing && !exists(c.Label) {
			v.addf(c.Label, "label file of case %s is missing", c.ID)
		}
	}
}

func channelFileRange(id string, n int, ending string) string {
	if n == 1 {
		return id + "_0000" + ending
	}
	return fmt.Sprintf("%s_0000%s .. %s_%04d%s", id, ending, id, n-1, ending)
}

// checkFolderNames reports image files that do not follow the naming
// scheme and label files without images.
func (v *verifier) checkFolderNames() {
	d := v.d
	imgDir, labDir := filepath.Join(d.Dir, "imagesTr"), filepath.Join(d.Dir, "labelsTr")
	used := make(map[string]bool)
	ids := make(map[string]bool)
	for _, c := range d.Cases {
		ids[c.ID] = true
		for _, im := range c.Images {
			used[filepath.Base(im)] = true
		}
	}
	files, _ := listFiles(imgDir, d.FileEnding) // folderCases already listed it
	for _, f := range files {
		if !used[f] {
			v.addf(filepath.Join(imgDir, f), "name does not follow <case>_<4-digit channel>%s (e.g. case_001_0000%s); rename or remove it",
				d.FileEnding, d.FileEnding)
		}
	}
	labels, err := listFiles(labDir, d.FileEnding)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || !exists(labDir) {
			v.addf(labDir, "folder is missing: put one label file <case>%s per case there", d.FileEnding)
			return
		}
		v.addf(labDir, "%v", err)
		return
	}
	for _, f := range labels {
		if id := strings.TrimSuffix(f, d.FileEnding); !ids[id] {
			v.addf(filepath.Join(labDir, f), "label file has no images (want imagesTr/%s_0000%s); remove it or add the images", id, d.FileEnding)
		}
	}
}

// checkLabels checks that the declared labels (and ignore label) are
// consecutive integers starting at 0.
func (v *verifier) checkLabels() {
	exp := v.d.Labels.Expected()
	for i, x := range exp {
		if x != i {
			v.addf("dataset.json", "labels must be consecutive integers starting at 0, got %s", formatInts(exp))
			return
		}
	}
}

// readAndCheck reads one case file by file, so that read problems and
// channel grid mismatches name the file, then runs CheckCase. Files that
// are missing were already reported by CheckLayout and are skipped.
func (d *Dataset) readAndCheck(c Case) []Problem {
	v := verifier{d: d}
	if len(c.Images) == 0 {
		return nil
	}
	for _, p := range append(slices.Clone(c.Images), c.Label) {
		if !exists(p) {
			return nil
		}
	}
	var img *imageio.Image
	for _, p := range c.Images {
		im, err := imageio.ReadImages([]string{p})
		if err != nil {
			v.addf(p, "cannot read image: %v", err)
			return v.problems
		}
		if img == nil {
			img = im
			continue
		}
		switch {
		case [3]int(im.Shape[1:]) != [3]int(img.Shape[1:]):
			v.addf(p, "shape %v differs from %s's %v (array order z,y,x); all channels must share one grid",
				im.Shape[1:], v.rel(c.Images[0]), img.Shape[1:])
		case !allclose(im.Spacing[:], img.Spacing[:]):
			v.addf(p, "spacing %v differs from %s's %v; all channels must share one grid", im.Spacing, v.rel(c.Images[0]), img.Spacing)
		default:
			img.Data = append(img.Data, im.Data...)
			img.Shape[0] += im.Shape[0]
			continue
		}
		return v.problems
	}
	seg, err := imageio.ReadSeg(c.Label)
	if err != nil {
		v.addf(c.Label, "cannot read label file: %v", err)
		return v.problems
	}
	v.checkImage(c, img, seg)
	return v.problems
}

// checkImage is CheckCase.
func (v *verifier) checkImage(c Case, img, seg *imageio.Image) {
	// Channel ch comes from file ch when every file holds one channel.
	file := func(ch int) string {
		if len(c.Images) == img.Shape[0] {
			return c.Images[ch]
		}
		return c.Images[0]
	}
	if want := len(v.d.Channels); img.Shape[0] != want {
		v.addf(c.Images[0], "case %s has %d image channel(s), dataset.json declares %d", c.ID, img.Shape[0], want)
	}
	for ch := range img.Shape[0] {
		if n := countNonFinite(img.Channel(ch)); n > 0 {
			v.addf(file(ch), "image contains %d NaN or infinite value(s); replace them (e.g. with 0) before training", n)
		}
	}
	if seg.Shape[0] != 1 {
		v.addf(c.Label, "label file has %d channels; want a single 3-D label map", seg.Shape[0])
		return
	}
	if [3]int(seg.Shape[1:]) != [3]int(img.Shape[1:]) {
		v.addf(c.Label, "shape %v does not match the image shape %v of case %s (array order z,y,x)", seg.Shape[1:], img.Shape[1:], c.ID)
	} else if !allclose(seg.Spacing[:], img.Spacing[:]) {
		v.addf(c.Label, "spacing %v does not match the image spacing %v of case %s", seg.Spacing, img.Spacing, c.ID)
	}
	if n := countNonFinite(seg.Data); n > 0 {
		v.addf(c.Label, "label map contains %d NaN or infinite value(s)", n)
	}
	expected := make(map[float32]bool)
	for _, x := range v.d.Labels.Expected() {
		expected[float32(x)] = true
	}
	if bad := unexpectedValues(seg.Data, expected); len(bad) > 0 {
		v.addf(c.Label, "label map contains values not declared in dataset.json labels: %s (declared: %s)",
			formatFloats(bad), formatInts(v.d.Labels.Expected()))
	}
}

func countNonFinite(a []float32) int {
	if !hasNonFinite(a) {
		return 0
	}
	n := 0
	for _, x := range a {
		if x-x != 0 { // NaN or ±Inf
			n++
		}
	}
	return n
}

// hasNonFinite reports whether a holds a NaN or an infinity, branch-free:
// a float32 is non-finite exactly when its exponent bits are all ones, and
// adding one to such an exponent carries into the sign bit.
func hasNonFinite(a []float32) bool {
	const exp, one = 0x7f800000, 0x00800000
	var f0, f1, f2, f3 uint32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		f0 |= math.Float32bits(a[i])&exp + one
		f1 |= math.Float32bits(a[i+1])&exp + one
		f2 |= math.Float32bits(a[i+2])&exp + one
		f3 |= math.Float32bits(a[i+3])&exp + one
	}
	for ; i < len(a); i++ {
		f0 |= math.Float32bits(a[i])&exp + one
	}
	return (f0|f1|f2|f3)>>31 != 0
}

// unexpectedValues returns the distinct values of a that are not in
// expected (NaN excluded; it is reported separately), sorted.
func unexpectedValues(a []float32, expected map[float32]bool) []float32 {
	var bad []float32
	seen := make(map[float32]bool)
	var good float32 // most recent declared value: runs of it skip the map lookup
	for _, x := range a {
		if x == good {
			continue
		}
		if expected[x] {
			good = x
			continue
		}
		if seen[x] || x != x {
			continue
		}
		seen[x] = true
		bad = append(bad, x)
	}
	slices.Sort(bad)
	return bad
}

func formatFloats(v []float32) string {
	const maxShown = 10
	s := make([]string, 0, min(len(v), maxShown))
	for i, x := range v {
		if i == maxShown {
			s = append(s, fmt.Sprintf("... (%d more)", len(v)-maxShown))
			break
		}
		s = append(s, fmt.Sprint(x))
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// allclose is numpy's allclose with default tolerances (rtol 1e-5, atol 1e-8).
func allclose(a, b []float64) bool {
	for i := range a {
		if !(math.Abs(a[i]-b[i]) <= 1e-8+1e-5*math.Abs(b[i])) {
			return false
		}
	}
	return true
}
