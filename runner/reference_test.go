package main

import (
	"context"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nnrunner/nnrunner/pipeline/stage"
	"github.com/nnrunner/nnrunner/stages/builtin"
)

var update = flag.Bool("update", false, "rewrite README.md's generated workflow file reference (make docs)")

// The generated part of README.md lies between these lines.
const (
	readmePath = "../README.md"
	refBegin   = "<!-- BEGIN GENERATED: workflow file reference; `make docs` rewrites it -->\n"
	refEnd     = "<!-- END GENERATED -->\n"
)

func registry(t *testing.T) *stage.Registry {
	t.Helper()
	reg, err := builtin.Registry()
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestREADMEReference(t *testing.T) {
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	head, rest, ok := strings.Cut(string(readme), refBegin)
	old, tail, ok2 := strings.Cut(rest, refEnd)
	if !ok || !ok2 {
		t.Fatalf("%s has no section between %q and %q", readmePath, strings.TrimSpace(refBegin), strings.TrimSpace(refEnd))
	}
	var b strings.Builder
	if err := writeReference(&b, registry(t)); err != nil {
		t.Fatal(err)
	}
	want := "\n" + b.String() + "\n"
	if *update {
		if err := os.WriteFile(readmePath, []byte(head+refBegin+want+refEnd+tail), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if diff := cmp.Diff(want, old); diff != "" {
		t.Errorf("README.md's workflow file reference is stale; run `make docs` (-want +README.md):\n%s", diff)
	}
}

// TestStageDocs keeps the generated reference complete: every built-in
// stage type, parameter and output has a description.
func TestStageDocs(t *testing.T) {
	reg := registry(t)
	for _, typ := range reg.Types() {
		s, _ := reg.Lookup(typ)
		spec := s.Spec()
		if strings.TrimSpace(spec.Doc) == "" {
			t.Errorf("stage type %s: empty Spec().Doc", typ)
		}
		for _, p := range spec.Params {
			if strings.TrimSpace(p.Doc) == "" {
				t.Errorf("stage type %s: parameter %s has no Doc", typ, p.Name)
			}
		}
		outs, _, _ := probeOutputs(s)
		for _, o := range outs {
			if strings.TrimSpace(o.Doc) == "" {
				t.Errorf("stage type %s: output %s has no Doc", typ, o.Name)
			}
		}
	}
}

// fakeOutputs is a stage whose output paths depend on its parameters.
type fakeOutputs struct{ params []stage.Param }

func (f fakeOutputs) Spec() stage.Spec { return stage.Spec{Type: "fake", Params: f.params} }

func (f fakeOutputs) Outputs(with stage.Values) ([]stage.Output, error) {
	dir, err := with.String("dir")
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(dir, "<>") && with.Has("strict") {
		return nil, os.ErrInvalid
	}
	return []stage.Output{{Name: "o", Path: dir + "/x"}}, nil
}

func (fakeOutputs) Run(context.Context, *stage.Request) error { return nil }

func TestProbeOutputs(t *testing.T) {
	tests := []struct {
		name        string
		params      []stage.Param
		wantPath    string
		wantUnknown []string
		wantErr     bool
	}{
		{"required string", []stage.Param{{Name: "dir", Kind: stage.String, Required: true}}, "<dir>/x", nil, false},
		{"default", []stage.Param{{Name: "dir", Kind: stage.String, Default: "d"}}, "<dir>/x", nil, false},
		{"enum keeps its default", []stage.Param{{Name: "dir", Kind: stage.String, Default: "d", Enum: []string{"d", "e"}}}, "d/x", nil, false},
		{"rejected stand-in", []stage.Param{{Name: "dir", Kind: stage.String, Default: "d"}, {Name: "strict", Kind: stage.Bool, Default: true}}, "d/x", nil, false},
		{"not a string", []stage.Param{{Name: "dir", Kind: stage.Object, Required: true}}, "", []string{"dir"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outs, unknown, err := probeOutputs(fakeOutputs{tc.params})
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.wantUnknown, unknown); diff != "" {
				t.Errorf("unknown (-want +got):\n%s", diff)
			}
			if err == nil && (len(outs) != 1 || outs[0].Path != tc.wantPath) {
				t.Errorf("outputs = %v, want path %s", outs, tc.wantPath)
			}
		})
	}
}
