package preprocess

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nnrunner/nnrunner/stages/nprand"
)

// TestSampleLocations checks the candidate order (label by label in the
// class's order, C order within a label), the shared RNG stream and the
// handling of absent labels.
func TestSampleLocations(t *testing.T) {
	shape := [3]int{1, 2, 4}
	seg := []int16{
		1, 2, 0, 2,
		-1, 1, 2, 0,
	}
	row := func(i int) [4]int64 { return [4]int64{0, 0, int64(i / 4), int64(i % 4)} }
	classes := [][]int{{2}, {5}, {2, 1}, {-1, 0}}
	keys := []string{"2", "5", "(2, 1)", "(-1, 0)"}
	got := sampleLocations(seg, shape, classes, keys)

	rs := nprand.New(locationSeed)
	pick := func(cands []int) [][4]int64 {
		idx := rs.ChoiceNoReplace(len(cands), len(cands))
		out := make([][4]int64, len(idx))
		for r, j := range idx {
			out[r] = row(cands[j])
		}
		return out
	}
	want := []ClassLocations{
		{Key: "2", Coords: pick([]int{1, 3, 6})},
		{Key: "5", Coords: [][4]int64{}},
		{Key: "(2, 1)", Coords: pick([]int{1, 3, 6, 0, 5})},
		{Key: "(-1, 0)", Coords: pick([]int{4, 2, 7})},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
