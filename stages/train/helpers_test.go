package train

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/nnrunner/nnrunner/pipeline/stage"
	"github.com/nnrunner/nnrunner/stages/npy"
	"github.com/nnrunner/nnrunner/stages/plans"
	"github.com/nnrunner/nnrunner/stages/preprocess"
	"github.com/nnrunner/nnrunner/stages/pyjson"
)

// synth describes a tiny synthetic preprocessed dataset: bright spheres
// (label 1) in Gaussian noise.
type synth struct {
	cases    int
	size     int // cubic volume edge
	channels int
	features []int // features per stage; len = stages
	patch    int
	batch    int
	seed     uint64
}

// tinySynth is the dataset and network of the fast tests: 3 stages of
// 4/8/16 features on 16³ patches.
var tinySynth = synth{cases: 10, size: 20, channels: 1, features: []int{4, 8, 16}, patch: 16, batch: 2, seed: 1}

// write creates the preprocessed data folder and the plans file under
// dir and returns their paths.
func (s synth) write(t testing.TB, dir string) (pre, plansPath string) {
	t.Helper()
	pre = filepath.Join(dir, "data")
	cfgDir := filepath.Join(pre, "synth_3d")
	must(t, os.MkdirAll(cfgDir, 0o755))
	ds := pyjson.NewObject()
	ch := pyjson.NewObject()
	for c := range s.channels {
		ch.Set(string(rune('0'+c)), "MRI")
	}
	ds.Set("channel_names", ch)
	labels := pyjson.NewObject()
	labels.Set("background", int64(0))
	labels.Set("sphere", int64(1))
	ds.Set("labels", labels)
	ds.Set("numTraining", int64(s.cases))
	ds.Set("file_ending", ".nii.gz")
	must(t, pyjson.WriteFile(filepath.Join(pre, "dataset.json"), ds, pyjson.Options{Indent: 4}))

	rng := rand.New(rand.NewPCG(s.seed, 7))
	n := s.size
	for i := range s.cases {
		id := "case_" + string(rune('a'+i/26)) + string(rune('a'+i%26))
		data := make([]float32, s.channels*n*n*n)
		seg := make([]int8, n*n*n)
		r := 3 + 2*rng.Float64()
		var ctr [3]float64
		for a := range ctr {
			ctr[a] = r + 1 + rng.Float64()*(float64(n)-2*r-2)
		}
		var fg [][4]int64
		for x := range n {
			for y := range n {
				for z := range n {
					v := (x*n+y)*n + z
					d := math.Sqrt(sq(float64(x)-ctr[0]) + sq(float64(y)-ctr[1]) + sq(float64(z)-ctr[2]))
					inside := d <= r
					for c := range s.channels {
						val := rng.NormFloat64() * 0.5
						if inside {
							val += 2
						}
						data[c*n*n*n+v] = float32(val)
					}
					if inside {
						seg[v] = 1
						fg = append(fg, [4]int64{0, int64(x), int64(y), int64(z)})
					}
				}
			}
		}
		base := filepath.Join(cfgDir, id)
		must(t, npy.WriteFile(base+".npy", []int{s.channels, n, n, n}, data))
		must(t, npy.WriteFile(base+"_seg.npy", []int{n, n, n}, seg))
		props := preprocess.Properties{
			Spacing: [3]float64{1, 1, 1}, ShapeBeforeCropping: [3]int{n, n, n},
			BBox: [3][2]int{{0, n}, {0, n}, {0, n}}, ShapeAfterCropping: [3]int{n, n, n},
			ClassLocations: []preprocess.ClassLocations{{Key: "1", Coords: fg}},
		}
		pj, err := props.MarshalJSON()
		must(t, err)
		must(t, os.WriteFile(base+".json", pj, 0o644))
	}

	pl := plans.New(plans.Header{
		DatasetName: "Dataset900_Synth", PlansName: "nnUNetPlans",
		OriginalMedianSpacingAfterTransp: []float64{1, 1, 1}, OriginalMedianShapeAfterTransp: []int{n, n, n},
		ImageReaderWriter: "NibabelIOWithReorient", TransposeForward: []int{0, 1, 2}, TransposeBackward: []int{0, 1, 2},
		ExperimentPlannerUsed: "ExperimentPlanner", LabelManager: "LabelManager",
	})
	var kernels, strides [][]int
	for i := range s.features {
		kernels = append(kernels, []int{3, 3, 3})
		if i == 0 {
			strides = append(strides, []int{1, 1, 1})
		} else {
			strides = append(strides, []int{2, 2, 2})
		}
	}
	dataRs, segRs, probRs := plans.DefaultResampling()
	cfg := &plans.Configuration{
		Name: "3d_fullres", DataIdentifier: "synth_3d", PreprocessorName: "DefaultPreprocessor",
		BatchSize: s.batch, PatchSize: []int{s.patch, s.patch, s.patch},
		MedianImageSizeInVoxels: []float64{float64(n), float64(n), float64(n)}, Spacing: []float64{1, 1, 1},
		ResamplingData: dataRs, ResamplingSeg: segRs, ResamplingProbabilities: probRs,
		Architecture: plans.NewPlainConvUNet(3, s.features, kernels, strides),
	}
	for range s.channels {
		cfg.NormalizationSchemes = append(cfg.NormalizationSchemes, "ZScoreNormalization")
		cfg.UseMaskForNorm = append(cfg.UseMaskForNorm, false)
	}
	pl.SetConfiguration("3d_fullres", cfg.Object())
	plansPath = filepath.Join(dir, "plans.json")
	must(t, pl.Save(plansPath))
	return pre, plansPath
}

func sq(x float64) float64 { return x * x }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// request builds a stage request with the defaults of st applied.
func request(st *Stage, out string, with stage.Values) *stage.Request {
	w := stage.Values{}
	for _, p := range st.Spec().Params {
		if p.Default != nil {
			w[p.Name] = p.Default
		}
	}
	for k, v := range with {
		w[k] = v
	}
	return &stage.Request{With: w, OutDir: out, Threads: 2, Log: hclog.NewNullLogger()}
}

func mkdir(p string) error { return os.MkdirAll(p, 0o755) }
