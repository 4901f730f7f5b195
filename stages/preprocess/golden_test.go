package preprocess

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/nnrunner/nnrunner/internal/sharedtest"
	"github.com/nnrunner/nnrunner/stages/dataset"
	"github.com/nnrunner/nnrunner/stages/imageio"
	"github.com/nnrunner/nnrunner/stages/npy"
	"github.com/nnrunner/nnrunner/stages/plans"
	"github.com/nnrunner/nnrunner/stages/pyjson"
)

// sharedDir returns ../shared, skipping unless it holds upstream's golden
// outputs.
func sharedDir(tb testing.TB) string {
	tb.Helper()
	sharedtest.Path(tb, "golden", "upstream")
	return sharedtest.Dir(tb)
}

// rawDir returns the raw dataset folder the golden dataset was made from.
func rawDir(shared, ds string) string {
	if strings.HasPrefix(ds, "Dataset00") {
		return filepath.Join(shared, "data", "msd-hippocampus")
	}
	return filepath.Join(shared, "golden", "raw", ds)
}

// goldenCase is one exported upstream case of one configuration.
type goldenCase struct {
	dataset, plansFile, config, folder, id string
}

func goldenCases(t *testing.T, shared string) []goldenCase {
	t.Helper()
	up := filepath.Join(shared, "golden", "upstream")
	dsets, err := os.ReadDir(up)
	if err != nil {
		t.Fatal(err)
	}
	var out []goldenCase
	for _, d := range dsets {
		for _, pf := range []string{"nnUNetPlans.json", "nnUNetPlans_pretrain.json"} {
			p, err := plans.Load(filepath.Join(up, d.Name(), pf))
			if os.IsNotExist(err) || (err != nil && strings.Contains(err.Error(), "no such file")) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range p.ConfigurationNames() {
				cfg, err := p.Configuration(name)
				if err != nil {
					t.Fatal(err)
				}
				folder := filepath.Join(up, d.Name(), cfg.DataIdentifier)
				files, _ := filepath.Glob(filepath.Join(folder, "*_data.npy"))
				for _, f := range files {
					out = append(out, goldenCase{d.Name(), pf, name, folder, strings.TrimSuffix(filepath.Base(f), "_data.npy")})
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no exported golden cases found")
	}
	return out
}

// readCase reads a raw case's channels and label map.
func readCase(t testing.TB, ds *dataset.Dataset, id string) (*imageio.Image, []int16) {
	t.Helper()
	for _, c := range ds.Cases {
		if c.ID != id {
			continue
		}
		img, seg, err := ReadCase(c.Images, c.Label)
		if err != nil {
			t.Fatal(err)
		}
		return img, seg
	}
	t.Fatalf("case %s not in %s", id, ds.Dir)
	return nil, nil
}

// TestGolden preprocesses every exported upstream case and compares arrays
// and properties with upstream's.
func TestGolden(t *testing.T) {
	shared := sharedDir(t)
	datasets := map[string]*dataset.Dataset{}
	worst := 0.0
	for _, gc := range goldenCases(t, shared) {
		t.Run(fmt.Sprintf("%s/%s/%s/%s", gc.dataset, strings.TrimSuffix(gc.plansFile, ".json"), gc.config, gc.id), func(t *testing.T) {
			ds := datasets[gc.dataset]
			if ds == nil {
				var err error
				if ds, err = dataset.Load(rawDir(shared, gc.dataset)); err != nil {
					t.Fatal(err)
				}
				datasets[gc.dataset] = ds
			}
			p, err := plans.Load(filepath.Join(shared, "golden", "upstream", gc.dataset, gc.plansFile))
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := NewConfig(p, gc.config, ds.Labels)
			if err != nil {
				t.Fatal(err)
			}
			img, seg := readCase(t, ds, gc.id)
			got, err := cfg.Run(context.Background(), img, seg, 2)
			if err != nil {
				t.Fatal(err)
			}
			base := filepath.Join(gc.folder, gc.id)

			wantData, err := npy.ReadFile(base + "_data.npy")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantData.Shape, got.Shape[:]); diff != "" {
				t.Fatalf("data shape (-want +got):\n%s", diff)
			}
			wd, err := wantData.Float32()
			if err != nil {
				t.Fatal(err)
			}
			maxDiff := 0.0
			for i := range wd {
				maxDiff = math.Max(maxDiff, math.Abs(float64(wd[i])-float64(got.Data[i])))
			}
			if maxDiff > 1e-4 {
				t.Errorf("data max |diff| = %g, want <= 1e-4", maxDiff)
			}
			worst = math.Max(worst, maxDiff)
			t.Logf("data max |diff| = %g", maxDiff)

			wantSeg, err := npy.ReadFile(base + "_seg.npy")
			if err != nil {
				t.Fatal(err)
			}
			ws, err := wantSeg.Int64s()
			if err != nil {
				t.Fatal(err)
			}
			gs := make([]int64, len(got.Seg))
			for i, v := range got.Seg {
				gs[i] = int64(v)
			}
			if len(ws) != len(gs) {
				t.Fatalf("seg has %d voxels, want %d", len(gs), len(ws))
			}
			bad := 0
			for i := range ws {
				if ws[i] != gs[i] {
					bad++
				}
			}
			if bad > 0 {
				t.Errorf("segmentation differs in %d of %d voxels", bad, len(ws))
			}

			want, err := readGoldenProperties(base + "_properties.json")
			if err != nil {
				t.Fatal(err)
			}
			gotP := got.Properties
			gotP.Geometry = imageio.Geometry{SITK: gotP.Geometry.SITK}
			want.Geometry = imageio.Geometry{SITK: want.Geometry.SITK}
			if diff := cmp.Diff(want, &gotP, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
				t.Errorf("properties (-want +got):\n%s", diff)
			}
		})
	}
	t.Logf("worst data max |diff| over all cases: %g", worst)
}

// readGoldenProperties reads upstream's properties (sitk_stuff, no
// geometry key).
func readGoldenProperties(path string) (*Properties, error) {
	return ReadProperties(path)
}

// decodeInto converts a decoded pyjson value into v through JSON.
func decodeInto(x any, v any) error {
	raw, err := pyjson.Marshal(x, pyjson.Options{})
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}
