package preprocess

import (
	"math"
	"slices"

	"github.com/nnrunner/nnrunner/stages/nprand"
)

// Class-location sampling constants of upstream's
// _sample_foreground_locations.
const (
	locationSeed        = 1234
	locationMinSamples  = 10000
	locationMinCoverage = 0.01
)

// sampleLocations draws, for every class in order, max(min(10000, n),
// ceil(0.01 n)) of its n voxels without replacement from one
// RandomState(1234) shared by the classes. A class's candidates are the
// voxels of its member labels, label by label in the class's order, each in
// C order (upstream's stable sort by label, then the label ranges).
func sampleLocations(seg []int16, shape [3]int, classes [][]int, keys []string) []ClassLocations {
	if len(classes) == 0 {
		return []ClassLocations{}
	}
	var wanted []int16
	for _, cl := range classes {
		for _, l := range cl {
			if l >= math.MinInt16 && l <= math.MaxInt16 && !slices.Contains(wanted, int16(l)) {
				wanted = append(wanted, int16(l))
			}
		}
	}
	slices.Sort(wanted)
	// slotOf maps a label (offset by 32768) to its index in wanted, or -1.
	var slotOf [1 << 16]int16
	for i := range slotOf {
		slotOf[i] = -1
	}
	for i, v := range wanted {
		slotOf[int(v)+1<<15] = int16(i)
	}
	slot := func(v int16) int { return int(slotOf[int(v)+1<<15]) }
	// Counting sort of the wanted voxels by label, C order kept per label.
	counts := make([]int, len(wanted)+1)
	for _, v := range seg {
		if s := slot(v); s >= 0 {
			counts[s+1]++
		}
	}
	for i := 1; i < len(counts); i++ {
		counts[i] += counts[i-1]
	}
	pos := make([]int32, counts[len(wanted)])
	next := slices.Clone(counts[:len(wanted)])
	for i, v := range seg {
		if s := slot(v); s >= 0 {
			pos[next[s]] = int32(i)
			next[s]++
		}
	}
	rs := nprand.New(locationSeed)
	yz, z := shape[1]*shape[2], shape[2]
	out := make([]ClassLocations, len(classes))
	var cands []int32
	for ci, cl := range classes {
		cands = cands[:0]
		for _, l := range cl {
			if l != int(int16(l)) {
				continue
			}
			if s := slot(int16(l)); s >= 0 {
				cands = append(cands, pos[counts[s]:counts[s+1]]...)
			}
		}
		out[ci].Key = keys[ci]
		total := len(cands)
		if total == 0 {
			out[ci].Coords = [][4]int64{}
			continue
		}
		k := max(min(locationMinSamples, total), int(math.Ceil(float64(total)*locationMinCoverage)))
		idx := rs.ChoiceNoReplace(total, k)
		rows := make([][4]int64, k)
		for r, j := range idx {
			v := int(cands[j])
			rows[r] = [4]int64{0, int64(v / yz), int64(v % yz / z), int64(v % z)}
		}
		out[ci].Coords = rows
	}
	return out
}
