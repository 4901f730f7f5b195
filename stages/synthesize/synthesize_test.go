package synthesize

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nnrunner/nnrunner/pipeline/stage"
	"github.com/nnrunner/nnrunner/stages/dataset"
	"github.com/nnrunner/nnrunner/stages/imageio"
)

func smallConfig(m Modality) Config {
	return Config{
		Name: "Dataset990_Test", Modality: m, Prefix: "c", Train: 3, Test: 1, Seed: 7,
		Shape: [3]int{24, 24, 10}, Spacing: [3]float64{0.8, 0.8, 3}, Jitter: 0.1, Lesions: true,
	}
}

// readTree returns every file under root by relative path.
func readTree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		files[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestDeterministic(t *testing.T) {
	for _, m := range []Modality{CT, MR} {
		t.Run(string(m), func(t *testing.T) {
			cfg := smallConfig(m)
			a, err := Generate(context.Background(), t.TempDir(), cfg, 1)
			if err != nil {
				t.Fatal(err)
			}
			b, err := Generate(context.Background(), t.TempDir(), cfg, 3)
			if err != nil {
				t.Fatal(err)
			}
			ta, tb := readTree(t, a), readTree(t, b)
			if len(ta) != 1+2*(cfg.Train+cfg.Test) {
				t.Errorf("%d files, want %d", len(ta), 1+2*(cfg.Train+cfg.Test))
			}
			for name, content := range ta {
				if !bytes.Equal(content, tb[name]) {
					t.Errorf("%s differs between runs with 1 and 3 workers", name)
				}
			}
			cfg.Seed++
			c, err := Generate(context.Background(), t.TempDir(), cfg, 2)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(ta["imagesTr/c_000_0000.nii.gz"], readTree(t, c)["imagesTr/c_000_0000.nii.gz"]) {
				t.Error("a different seed gave the same image")
			}
		})
	}
}

// TestDatasetIsValid checks the written dataset with the raw-dataset
// integrity checks and that each case has a visible organ and lesion.
func TestDatasetIsValid(t *testing.T) {
	for _, tc := range []struct {
		m        Modality
		channels int
	}{{CT, 1}, {MR, 1}, {MR, 2}} {
		t.Run(fmt.Sprintf("%s_%d", tc.m, tc.channels), func(t *testing.T) {
			cfg := smallConfig(tc.m)
			cfg.Channels = tc.channels
			root, err := Generate(context.Background(), t.TempDir(), cfg, 2)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := dataset.Verify(context.Background(), root, 2); err != nil {
				t.Fatalf("integrity check: %v", err)
			}
			var dj map[string]any
			b, err := os.ReadFile(filepath.Join(root, "dataset.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &dj); err != nil {
				t.Fatal(err)
			}
			names := map[string]any{}
			for i, n := range cfg.ChannelNames() {
				names[fmt.Sprint(i)] = n
			}
			want := map[string]any{
				"channel_names": names,
				"labels":        map[string]any{"background": 0.0, "organ": 1.0, "lesion": 2.0},
				"numTraining":   float64(cfg.Train),
				"file_ending":   ".nii.gz",
				"name":          cfg.Name,
			}
			delete(dj, "description")
			if d := cmp.Diff(want, dj); d != "" {
				t.Errorf("dataset.json (-want +got):\n%s", d)
			}
			for i := 0; i < cfg.Train+cfg.Test; i++ {
				dir, ldir := "imagesTr", "labelsTr"
				if i >= cfg.Train {
					dir, ldir = "imagesTs", "labelsTs"
				}
				id := cfg.CaseID(i)
				var files []string
				for c := range cfg.ChannelNames() {
					files = append(files, filepath.Join(root, dir, fmt.Sprintf("%s_%04d.nii.gz", id, c)))
				}
				img, err := imageio.ReadImages(files)
				if err != nil {
					t.Fatal(err)
				}
				if img.Shape[0] != len(files) {
					t.Fatalf("%s: %d channels, want %d", id, img.Shape[0], len(files))
				}
				seg, err := imageio.ReadSeg(filepath.Join(root, ldir, id+".nii.gz"))
				if err != nil {
					t.Fatal(err)
				}
				checkCase(t, id, &cfg, img, seg)
			}
		})
	}
}

// checkCase checks spacing, label counts and the organ/background contrast.
func checkCase(t *testing.T, id string, cfg *Config, img, seg *imageio.Image) {
	t.Helper()
	for a := 0; a < 3; a++ {
		nominal := cfg.Spacing[2-a]
		if math.Abs(img.Spacing[a]-nominal) > cfg.Jitter*nominal*1.0001 {
			t.Errorf("%s: spacing %v outside nominal %v ± %g", id, img.Spacing, cfg.Spacing, cfg.Jitter)
		}
	}
	var count [3]int
	var sum [3]float64
	for i, l := range seg.Data {
		if l < 0 || l > 2 || l != float32(int(l)) {
			t.Fatalf("%s: label %v", id, l)
		}
		count[int(l)]++
		sum[int(l)] += float64(img.Data[i])
	}
	if count[Organ] < 20 || count[Lesion] < 4 {
		t.Errorf("%s: %d organ and %d lesion voxels, want a visible organ and lesion", id, count[Organ], count[Lesion])
	}
	organMean := sum[Organ] / float64(count[Organ])
	// Mean of body voxels outside the organ (background excluding air).
	tissue, n := 0.0, 0
	for i, l := range seg.Data {
		v := float64(img.Data[i])
		if l == 0 && ((cfg.Modality == CT && v > -500 && v < 300) || (cfg.Modality == MR && v > 100 && v < 450)) {
			tissue += v
			n++
		}
	}
	tissue /= float64(n)
	if contrast := organMean - tissue; contrast < 60 {
		t.Errorf("%s: organ mean %.1f vs tissue %.1f, want the organ clearly brighter", id, organMean, tissue)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(c *Config)
		want string
	}{
		{"ok", func(c *Config) {}, ""},
		{"name with slash", func(c *Config) { c.Name = "a/b" }, "plain folder name"},
		{"modality", func(c *Config) { c.Modality = "PET" }, "modality"},
		{"no cases", func(c *Config) { c.Train = 0 }, "at least 1"},
		{"negative test", func(c *Config) { c.Test = -1 }, "test cases"},
		{"jitter", func(c *Config) { c.Jitter = 0.5 }, "jitter"},
		{"tiny shape", func(c *Config) { c.Shape[2] = 4 }, "8 to 1024"},
		{"zero spacing", func(c *Config) { c.Spacing[0] = 0 }, "voxel size"},
		{"empty prefix", func(c *Config) { c.Prefix = "" }, "prefix"},
		{"two CT channels", func(c *Config) { c.Channels = 2 }, "channels"},
		{"three channels", func(c *Config) { c.Modality = MR; c.Channels = 3 }, "channels"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := smallConfig(CT)
			tc.edit(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestGenerateRefusesNonEmptyFolder(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig(CT)
	if err := os.MkdirAll(filepath.Join(dir, cfg.Name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, cfg.Name, "keep.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(context.Background(), dir, cfg, 1); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("error %v, want one saying the folder is not empty", err)
	}
}

func TestGenerateCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Generate(ctx, t.TempDir(), smallConfig(CT), 1); err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("error %v, want context cancellation", err)
	}
}

// defaults returns the stage's declared parameter defaults.
func defaults(s *Stage) stage.Values {
	v := stage.Values{}
	for _, p := range s.Spec().Params {
		v[p.Name] = p.Default
	}
	return v
}

func TestStage(t *testing.T) {
	s := New()
	with := defaults(s)
	with["cases"] = int64(2)
	with["test_cases"] = int64(1)
	with["shape"] = []any{int64(16), int64(16), int64(8)}
	with["modality"] = "MR"
	with["channels"] = int64(2)
	outs, err := s.Outputs(with)
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 1 || outs[0].Name != OutputDataset || outs[0].Path != "Dataset900_Synthetic" {
		t.Fatalf("outputs %+v", outs)
	}
	dir := t.TempDir()
	if err := s.Run(context.Background(), &stage.Request{With: with, OutDir: dir, Threads: 2}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"dataset.json", "imagesTr/synthmr_000_0000.nii.gz", "imagesTr/synthmr_000_0001.nii.gz", "labelsTr/synthmr_001.nii.gz",
		"imagesTs/synthmr_002_0000.nii.gz", "labelsTs/synthmr_002.nii.gz"} {
		if _, err := os.Stat(filepath.Join(dir, outs[0].Path, f)); err != nil {
			t.Error(err)
		}
	}

	bad := []struct {
		key  string
		val  any
		want string
	}{
		{"spacing", []any{1.0, 2.0}, "3 numbers"},
		{"spacing", []any{1.0, "x", 2.0}, "want a number"},
		{"shape", []any{int64(16), int64(16)}, "3 integers"},
		{"seed", int64(-1), "non-negative"},
		{"cases", int64(0), "at least 1"},
		{"channels", int64(2), "channels"},
	}
	for _, b := range bad {
		w := defaults(s)
		w[b.key] = b.val
		if _, err := s.Outputs(w); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s=%v: error %v, want one containing %q", b.key, b.val, err, b.want)
		}
	}
}
