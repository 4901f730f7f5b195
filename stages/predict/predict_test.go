package predict

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/nnrunner/nnrunner/pipeline/stage"
	"github.com/nnrunner/nnrunner/stages/fingerprint"
	"github.com/nnrunner/nnrunner/stages/imageio"
	"github.com/nnrunner/nnrunner/stages/imageio/nifti"
	"github.com/nnrunner/nnrunner/stages/nn/unet"
	"github.com/nnrunner/nnrunner/stages/plan"
	"github.com/nnrunner/nnrunner/stages/plans"
	"github.com/nnrunner/nnrunner/stages/synthesize"
	"github.com/nnrunner/nnrunner/stages/train"
)

// fixture is a tiny synthetic CT dataset with plans made for it.
type fixture struct {
	root      string // raw dataset folder
	plansPath string
	plans     *plans.Plans
	inputs    *plan.Inputs
}

// shared holds the fixture every test uses; building it (synthesis and
// fingerprint) is the slow part of these tests.
var shared struct {
	once sync.Once
	dir  string
	f    fixture
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// sharedFixture returns a dataset whose spacing makes the plans transpose
// the axes (file spacing 2, 1, 1 puts the coarse axis first), with plans
// for a tiny 3d_fullres network (tinyNet).
func sharedFixture(t *testing.T) fixture {
	t.Helper()
	shared.once.Do(func() {
		if shared.dir, shared.err = os.MkdirTemp("", "predict-test"); shared.err == nil {
			shared.f, shared.err = buildFixture(shared.dir)
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.f
}

func buildFixture(dir string) (fixture, error) {
	ctx := context.Background()
	cfg := synthesize.Config{
		Name: "Dataset991_Pred", Modality: synthesize.CT, Prefix: "pr", Train: 2, Test: 2, Seed: 11,
		Shape: [3]int{12, 10, 8}, Spacing: [3]float64{2, 1, 1}, Lesions: true,
	}
	root, err := synthesize.Generate(ctx, dir, cfg, 2)
	if err != nil {
		return fixture{}, err
	}
	fp, err := fingerprint.Extract(ctx, root, fingerprint.Options{Threads: 2})
	if err != nil {
		return fixture{}, err
	}
	fpPath := filepath.Join(dir, fingerprint.FileName)
	if err := fp.WriteFile(fpPath); err != nil {
		return fixture{}, err
	}
	in, err := plan.LoadInputs(root, fpPath)
	if err != nil {
		return fixture{}, err
	}
	f := fixture{root: root, inputs: in}
	f.plans, f.plansPath, err = makePlans(in, dir, tinyNet)
	return f, err
}

// makePlans plans 3d_fullres with the given overrides into dir.
func makePlans(in *plan.Inputs, dir string, o plans.Overrides) (*plans.Plans, string, error) {
	p, err := plan.Plan(in.Info, in.Fingerprint, plan.Options{Configurations: []string{plan.Config3DFullres}, Overrides: o}, nil)
	if err != nil {
		return nil, "", err
	}
	path := filepath.Join(dir, plans.DefaultPlansName+".json")
	return p, path, p.Save(path)
}

var tinyNet = plans.Overrides{PatchSize: []int{8, 8, 8}, FeaturesBase: 2, FeaturesMax: 4}

// writeCheckpoint saves a randomly initialised network for the fixture's
// plans as a training stage would: safetensors weights and a JSON sidecar.
func writeCheckpoint(t *testing.T, p *plans.Plans, channels, classes int, seed uint64, sc *train.Sidecar) string {
	t.Helper()
	pc, err := p.Configuration("3d_fullres")
	if err != nil {
		t.Fatal(err)
	}
	arch, err := unet.ArchFromPlans(pc.Architecture)
	if err != nil {
		t.Fatal(err)
	}
	m, err := unet.New(unet.Config{Arch: arch, InputChannels: channels, NumClasses: classes}, seed)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	weights, _, side := train.CheckpointPaths(dir, train.FinalName)
	writeSafetensors(t, weights, m.State())
	if sc != nil {
		b, err := json.Marshal(sc)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(side, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return weights
}

// writeSafetensors writes float32 tensors in the safetensors format.
func writeSafetensors(t *testing.T, path string, tensors map[string]unet.Tensor) {
	t.Helper()
	names := make([]string, 0, len(tensors))
	for k := range tensors {
		names = append(names, k)
	}
	sort.Strings(names)
	header := map[string]any{}
	off := 0
	for _, k := range names {
		n := 4 * len(tensors[k].Data)
		header[k] = map[string]any{"dtype": "F32", "shape": tensors[k].Shape, "data_offsets": []int{off, off + n}}
		off += n
	}
	hj, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	buf := binary.LittleEndian.AppendUint64(nil, uint64(len(hj)))
	buf = append(buf, hj...)
	for _, k := range names {
		for _, v := range tensors[k].Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

func sidecarFor(p *plans.Plans) *train.Sidecar {
	return &train.Sidecar{Format: 1, PlansName: p.PlansName(), Configuration: "3d_fullres", InputChannels: 1, NumClasses: 3, MirrorAxes: []int{0, 1, 2}}
}

// TestStageRoundTrip predicts the held-out images with an ensemble of two
// random networks and checks that each segmentation lies exactly on its
// image's grid: shape, affine, header geometry, uint8 labels.
func TestStageRoundTrip(t *testing.T) {
	f := sharedFixture(t)
	ck1 := writeCheckpoint(t, f.plans, 1, 3, 1, sidecarFor(f.plans))
	ck2 := writeCheckpoint(t, f.plans, 1, 3, 2, nil)
	out := t.TempDir()
	with := stage.Values{
		"images": filepath.Join(f.root, "imagesTs"), "checkpoint": []any{ck1, ck2}, "plans": f.plansPath,
		"configuration": "3d_fullres", "mirroring": true, "step_size": 0.5, "dataset_json": filepath.Join(f.root, "dataset.json"),
	}
	if err := New().Run(context.Background(), &stage.Request{With: with, OutDir: out, Threads: 2, Log: hclog.NewNullLogger()}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"pr_002", "pr_003"} {
		img, err := imageio.ReadImages([]string{filepath.Join(f.root, "imagesTs", id+"_0000.nii.gz")})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(out, OutputPredictions, id+".nii.gz")
		seg, err := imageio.ReadSeg(path)
		if err != nil {
			t.Fatal(err)
		}
		if seg.Shape != img.Shape {
			t.Errorf("%s: prediction shape %v, image %v", id, seg.Shape, img.Shape)
		}
		if seg.Geometry.Affine != img.Geometry.Affine || seg.Spacing != img.Spacing || seg.Geometry.NIfTI != img.Geometry.NIfTI {
			t.Errorf("%s: geometry differs:\n%+v\n%+v", id, seg.Geometry, img.Geometry)
		}
		r, err := nifti.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if r.Header.Datatype != nifti.Uint8 {
			t.Errorf("%s: datatype %v, want uint8", id, r.Header.Datatype)
		}
		r.Close()
		for _, v := range seg.Data {
			if v < 0 || v > 2 {
				t.Fatalf("%s: label %v outside 0..2", id, v)
			}
		}
	}
	entries, _ := os.ReadDir(filepath.Join(out, OutputPredictions))
	if len(entries) != 2 {
		t.Errorf("%d files written, want 2", len(entries))
	}
}

// thresholdNet is a stand-in network whose class-1 logit is the
// normalised intensity and class-0 logit zero: its prediction is the
// voxels brighter than the plans' CT mean, whatever the geometry, so the
// inverse of preprocessing can be checked voxel by voxel.
type thresholdNet struct{}

func (thresholdNet) Forward(x, dst []float32) error {
	n := len(x)
	clear(dst[:n])
	copy(dst[n:], x)
	return nil
}

func (thresholdNet) Close() error { return nil }

func TestInverseOfPreprocessing(t *testing.T) {
	f := sharedFixture(t)
	if tf := f.plans.TransposeForward(); slices.Equal(tf, []int{0, 1, 2}) {
		t.Fatalf("fixture plans do not transpose (transpose_forward %v); the test would not cover it", tf)
	}
	ip, err := f.plans.ForegroundIntensityProperties()
	if err != nil {
		t.Fatal(err)
	}
	for _, mirroring := range []bool{false, true} {
		pr, _, err := newPredictor(f.plans, Options{Configuration: "3d_fullres", Mirroring: mirroring, Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		pr.nets, pr.classes, pr.infer.Classes = []Net{thresholdNet{}}, 2, 2
		if mirroring {
			pr.infer.MirrorAxes = []int{0, 1, 2}
		}
		for _, id := range []string{"pr_000", "pr_002"} {
			dir := "imagesTs"
			if id == "pr_000" {
				dir = "imagesTr"
			}
			img, err := imageio.ReadImages([]string{filepath.Join(f.root, dir, id+"_0000.nii.gz")})
			if err != nil {
				t.Fatal(err)
			}
			seg, shape, err := pr.Predict(context.Background(), img)
			if err != nil {
				t.Fatal(err)
			}
			if shape != [3]int(img.Shape[1:]) {
				t.Fatalf("%s: shape %v, want %v", id, shape, img.Shape[1:])
			}
			lo, hi, mean := float32(ip[0].Percentile00_5), float32(ip[0].Percentile99_5), ip[0].Mean
			wrong := 0
			for i, v := range img.Data {
				want := int16(0)
				if float64(min(max(v, lo), hi)) > mean {
					want = 1
				}
				if seg[i] != want {
					wrong++
				}
			}
			if wrong != 0 {
				t.Errorf("%s (mirroring %v): %d of %d voxels differ from the thresholded image", id, mirroring, wrong, len(seg))
			}
		}
	}
}

func TestListCases(t *testing.T) {
	for _, tc := range []struct {
		name     string
		files    []string
		channels int
		want     []Case
		err      []string
	}{
		{"one channel", []string{"b_0000.nii.gz", "a_0000.nii.gz", "notes.txt"}, 1,
			[]Case{{ID: "a", Files: []string{"a_0000.nii.gz"}}, {ID: "b", Files: []string{"b_0000.nii.gz"}}}, nil},
		{"two channels", []string{"a_0001.nii.gz", "a_0000.nii.gz"}, 2,
			[]Case{{ID: "a", Files: []string{"a_0000.nii.gz", "a_0001.nii.gz"}}}, nil},
		{"missing channel file", []string{"a_0000.nii.gz", "b_0001.nii.gz", "b_0000.nii.gz"}, 2, nil,
			[]string{"case a: channel file", "a_0001.nii.gz is missing", "2 channel(s)"}},
		{"wrong channel count", []string{"a_0000.nii.gz", "a_0001.nii.gz"}, 1, nil,
			[]string{"case a has 2 channel files but the model takes 1", "remove a_0001.nii.gz"}},
		{"misnamed", []string{"a.nii.gz"}, 1, nil, []string{"a.nii.gz not named <case>_<XXXX>.nii.gz"}},
		{"empty", nil, 1, nil, []string{"holds no *_0000.nii.gz"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := ListCases(dir, ".nii.gz", tc.channels)
			if tc.err != nil {
				if err == nil {
					t.Fatal("want an error")
				}
				for _, w := range tc.err {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				for j, p := range got[i].Files {
					got[i].Files[j] = filepath.Base(p)
				}
			}
			if !slices.EqualFunc(got, tc.want, func(a, b Case) bool { return a.ID == b.ID && slices.Equal(a.Files, b.Files) }) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestBadCheckpoint checks that checkpoints that do not belong to the
// plans are refused with the reason.
func TestBadCheckpoint(t *testing.T) {
	f := sharedFixture(t)
	otherPlans, _, err := makePlans(f.inputs, t.TempDir(), plans.Overrides{PatchSize: []int{8, 8, 8}, FeaturesBase: 4, FeaturesMax: 4})
	if err != nil {
		t.Fatal(err)
	}
	wrongName := sidecarFor(f.plans)
	wrongName.PlansName = "nnUNetPlans_pretrain"
	wrongConfig := sidecarFor(f.plans)
	wrongConfig.Configuration = "3d_lowres"
	for _, tc := range []struct {
		name string
		ck   string
		with stage.Values
		want []string
	}{
		{"other architecture", writeCheckpoint(t, otherPlans, 1, 3, 1, nil), nil, []string{"does not fit the network of plans nnUNetPlans", "shape"}},
		{"input channels", writeCheckpoint(t, f.plans, 2, 3, 1, nil), nil, []string{"takes 2 input channel(s)", "normalizes 1"}},
		{"plans name", writeCheckpoint(t, f.plans, 1, 3, 1, wrongName), nil, []string{`trained with plans "nnUNetPlans_pretrain"`}},
		{"configuration", writeCheckpoint(t, f.plans, 1, 3, 1, wrongConfig), nil, []string{"trained with configuration 3d_lowres"}},
		{"labels of another dataset", writeCheckpoint(t, f.plans, 1, 4, 1, nil), stage.Values{"dataset_json": filepath.Join(f.root, "dataset.json")},
			[]string{"declares 3 labels with background but the checkpoint predicts 4 classes"}},
		{"not a checkpoint", filepath.Join(f.root, "dataset.json"), nil, []string{"checkpoint"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			with := stage.Values{"images": filepath.Join(f.root, "imagesTs"), "checkpoint": tc.ck, "plans": f.plansPath, "configuration": "3d_fullres"}
			for k, v := range tc.with {
				with[k] = v
			}
			out := t.TempDir()
			err := New().Run(context.Background(), &stage.Request{With: with, OutDir: out, Threads: 1, Log: hclog.NewNullLogger()})
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if entries, _ := os.ReadDir(filepath.Join(out, OutputPredictions)); len(entries) != 0 {
				t.Errorf("%d files written despite the error", len(entries))
			}
		})
	}
}

// cancellingNet cancels its context during the first forward pass.
type cancellingNet struct {
	thresholdNet
	cancel context.CancelFunc
	calls  int
}

func (n *cancellingNet) Forward(x, dst []float32) error {
	n.calls++
	n.cancel()
	return n.thresholdNet.Forward(x, dst)
}

// TestCancel checks that a cancelled prediction stops at the next forward
// pass, not at the end of the tile's mirrored passes.
func TestCancel(t *testing.T) {
	f := sharedFixture(t)
	pr, _, err := newPredictor(f.plans, Options{Configuration: "3d_fullres", Mirroring: true, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	net := &cancellingNet{cancel: cancel}
	pr.nets, pr.classes, pr.infer.Classes, pr.infer.MirrorAxes = []Net{net}, 2, 2, []int{0, 1, 2}
	img, err := imageio.ReadImages([]string{filepath.Join(f.root, "imagesTs", "pr_002_0000.nii.gz")})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := pr.Predict(ctx, img); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if net.calls != 1 {
		t.Errorf("%d forward passes after cancellation, want 1", net.calls)
	}
}

// scaledNet's class-1 logit is the normalised intensity times factor.
type scaledNet struct{ factor float32 }

func (n scaledNet) Forward(x, dst []float32) error {
	clear(dst[:len(x)])
	for i, v := range x {
		dst[len(x)+i] = v * n.factor
	}
	return nil
}

func (scaledNet) Close() error { return nil }

// TestEnsembleAverages checks that an ensemble averages logits: class-1
// logits x and -3x average to -x, which selects the darker voxels.
func TestEnsembleAverages(t *testing.T) {
	f := sharedFixture(t)
	pr, _, err := newPredictor(f.plans, Options{Configuration: "3d_fullres", Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	pr.nets, pr.classes, pr.infer.Classes = []Net{scaledNet{1}, scaledNet{-3}}, 2, 2
	img, err := imageio.ReadImages([]string{filepath.Join(f.root, "imagesTs", "pr_003_0000.nii.gz")})
	if err != nil {
		t.Fatal(err)
	}
	seg, _, err := pr.Predict(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	ip, err := f.plans.ForegroundIntensityProperties()
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := float32(ip[0].Percentile00_5), float32(ip[0].Percentile99_5)
	wrong := 0
	for i, v := range img.Data {
		want := int16(0)
		if float64(min(max(v, lo), hi)) < ip[0].Mean {
			want = 1
		}
		if seg[i] != want {
			wrong++
		}
	}
	if wrong != 0 {
		t.Errorf("%d of %d voxels differ from the averaged ensemble's threshold", wrong, len(seg))
	}
}
