package cachekey

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/nnrunner/nnrunner/pipeline/hashing"
)

func base() *Components {
	v := "4"
	return &Components{
		Schema:  SchemaVersion,
		Type:    "train",
		Version: 3,
		Params:  map[string]any{"lr": 0.01, "argv": []any{"a", "b"}, "opt": map[string]any{"m": 0.9}},
		Inputs:  map[string]hashing.Digest{"datasets.pre": hashing.Sum([]byte("pre"))},
		Env:     map[string]*string{"OMP_NUM_THREADS": &v},
	}
}

func TestKeyChangesPerComponent(t *testing.T) {
	eight := "8"
	tests := []struct {
		name   string
		mutate func(c *Components)
		want   []Change // nil: key must not change
	}{
		{"identical", func(c *Components) {}, nil},
		{"map order irrelevant", func(c *Components) {
			c.Params = map[string]any{"opt": map[string]any{"m": 0.9}, "argv": []any{"a", "b"}, "lr": 0.01}
		}, nil},
		{"key schema", func(c *Components) { c.Schema++ }, []Change{{Kind: SchemaChange, Name: "version", Old: "1", New: "2"}}},
		{"stage type", func(c *Components) { c.Type = "finetune" }, []Change{{Kind: StageChange, Name: "type", Old: "train", New: "finetune"}}},
		{"stage version", func(c *Components) { c.Version = 4 }, []Change{{Kind: StageChange, Name: "version", Old: "3", New: "4"}}},
		{"param", func(c *Components) { c.Params["lr"] = 0.001 }, []Change{{Kind: ParamChange, Name: "lr", Old: "0.01", New: "0.001"}}},
		{"nested param", func(c *Components) { c.Params["opt"] = map[string]any{"m": 0.99} }, []Change{{Kind: ParamChange, Name: "opt.m", Old: "0.9", New: "0.99"}}},
		{"list item", func(c *Components) { c.Params["argv"] = []any{"a", "c"} }, []Change{{Kind: ParamChange, Name: "argv[1]", Old: `"b"`, New: `"c"`}}},
		{"param added", func(c *Components) { c.Params["seed"] = int64(7) }, []Change{{Kind: AddedChange, Name: "param seed", New: "7"}}},
		{"input content", func(c *Components) { c.Inputs["datasets.pre"] = hashing.Sum([]byte("pre2")) },
			[]Change{{Kind: InputChange, Name: "datasets.pre"}}},
		{"input added", func(c *Components) { c.Inputs["with.p"] = hashing.Sum(nil) }, []Change{{Kind: AddedChange, Name: "input with.p"}}},
		{"env value", func(c *Components) { c.Env["OMP_NUM_THREADS"] = &eight },
			[]Change{{Kind: EnvChange, Name: "OMP_NUM_THREADS", Old: `"4"`, New: `"8"`}}},
		{"env unset", func(c *Components) { c.Env["OMP_NUM_THREADS"] = nil },
			[]Change{{Kind: EnvChange, Name: "OMP_NUM_THREADS", Old: `"4"`, New: "(unset)"}}},
	}
	old := base()
	oldKey, err := old.Key()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.mutate(c)
			key, err := c.Key()
			if err != nil {
				t.Fatal(err)
			}
			if (key != oldKey) != (tc.want != nil) {
				t.Errorf("key changed = %v, want %v", key != oldKey, tc.want != nil)
			}
			got := Diff(old, c)
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(Change{}, "Old", "New", "OldDigest", "NewDigest"), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("diff (-want +got):\n%s", diff)
			}
			for i := range tc.want {
				if tc.want[i].Kind != InputChange && tc.want[i].Kind != AddedChange && (got[i].Old != tc.want[i].Old || got[i].New != tc.want[i].New) {
					t.Errorf("change %d: %q -> %q, want %q -> %q", i, got[i].Old, got[i].New, tc.want[i].Old, tc.want[i].New)
				}
			}
		})
	}
}

func TestCanonicalIsStable(t *testing.T) {
	b, err := base().Canonical()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"schema":1,"type":"train","version":3,"params":{"argv":["a","b"],"lr":0.01,"opt":{"m":0.9}},"inputs":{"datasets.pre":"`
	if !strings.HasPrefix(string(b), want) {
		t.Errorf("canonical record\n%s\ndoes not start with\n%s", b, want)
	}
}
