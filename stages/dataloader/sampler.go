package dataloader

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// OversampleForeground is upstream's oversample_foreground_percent.
const OversampleForeground = 0.33

// Batch is one batch of patches.
type Batch struct {
	Size     int
	Channels int
	Patch    [3]int
	Data     []float32 // (Size, Channels, Patch...)
	Seg      []int16   // (Size, Patch...); −1 marks padding and outside-the-crop voxels
	Cases    []string  // case identifier of each sample
}

// NewBatch allocates a batch.
func NewBatch(size, channels int, patch [3]int) *Batch {
	n := patch[0] * patch[1] * patch[2]
	return &Batch{
		Size: size, Channels: channels, Patch: patch,
		Data:  make([]float32, size*channels*n),
		Seg:   make([]int16, size*n),
		Cases: make([]string, size),
	}
}

// Voxels returns the number of voxels of one patch.
func (b *Batch) Voxels() int { return b.Patch[0] * b.Patch[1] * b.Patch[2] }

// Sampler draws batches from cases like upstream's nnUNetDataLoader.
type Sampler struct {
	cases    []*Case
	size     int
	channels int
	patch    [3]int // patch drawn from the case (training: the enlarged initial patch)
	final    [3]int // patch the network sees
}

// NewSampler returns a sampler of batches of size samples with boxes of
// shape patch, for a network patch final (final ≤ patch per axis; equal for
// validation).
func NewSampler(cases []*Case, size int, patch, final [3]int) (*Sampler, error) {
	if len(cases) == 0 {
		return nil, fmt.Errorf("new sampler: no cases")
	}
	if size < 1 {
		return nil, fmt.Errorf("new sampler: batch size %d must be positive", size)
	}
	for a := range 3 {
		if final[a] < 1 || patch[a] < final[a] {
			return nil, fmt.Errorf("new sampler: sampling patch %v must be at least the network patch %v (positive)", patch, final)
		}
	}
	ch := cases[0].Shape[0]
	for _, c := range cases {
		if c.Shape[0] != ch {
			return nil, fmt.Errorf("new sampler: case %s has %d channels, case %s %d", c.ID, c.Shape[0], cases[0].ID, ch)
		}
	}
	return &Sampler{cases: cases, size: size, channels: ch, patch: patch, final: final}, nil
}

// NewBatch allocates a batch this sampler can fill.
func (s *Sampler) NewBatch() *Batch { return NewBatch(s.size, s.channels, s.patch) }

// ForceForeground reports whether sample j of a batch of size n must
// contain foreground: j ≥ round(n·(1 − 0.33)) (Python round, half to even).
func ForceForeground(j, n int) bool {
	return float64(j) >= math.RoundToEven(float64(n)*(1-OversampleForeground))
}

// floorDiv is Python's // for a positive divisor.
func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// Bounds returns upstream's lower and upper bound of the box start along
// one axis of size size, for sampling patch p and network patch final.
func Bounds(size, p, final int) (lb, ub int) {
	need := p - final
	if need+size < p {
		need = p - size
	}
	lb = floorDiv(-need, 2)
	ub = size + need/2 + need%2 - p
	return lb, ub
}

// Sample fills dst (from NewBatch) with a batch drawn with rng.
func (s *Sampler) Sample(rng *rand.Rand, dst *Batch) {
	for j := range s.size {
		c := s.cases[rng.IntN(len(s.cases))]
		start := s.box(rng, c, ForceForeground(j, s.size))
		dst.Cases[j] = c.ID
		n := dst.Voxels()
		crop(c, start, s.patch, dst.Data[j*s.channels*n:(j+1)*s.channels*n], dst.Seg[j*n:(j+1)*n])
	}
}

// box picks the start corner of a sample's box.
func (s *Sampler) box(rng *rand.Rand, c *Case, force bool) [3]int {
	var lb, ub, start [3]int
	for a := range 3 {
		lb[a], ub[a] = Bounds(c.Shape[a+1], s.patch[a], s.final[a])
	}
	if force {
		if locs := eligible(c.Classes); len(locs) > 0 {
			cls := locs[rng.IntN(len(locs))]
			loc := cls.Coords[rng.IntN(len(cls.Coords))]
			for a := range 3 {
				start[a] = max(lb[a], loc[a]-s.patch[a]/2)
			}
			return start
		}
	}
	for a := range 3 {
		start[a] = lb[a] + rng.IntN(ub[a]-lb[a]+1)
	}
	return start
}

// eligible drops the ignore-label sampling key "(-1, …)" when other classes
// have locations, as upstream does.
func eligible(classes []Locations) []Locations {
	var out []Locations
	for _, c := range classes {
		if !strings.HasPrefix(c.Key, "(-1") {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return classes
	}
	return out
}

// crop copies the box at start of shape p out of c into data (C, p...) and
// seg (p...), padding outside the image with 0 and −1.
func crop(c *Case, start, p [3]int, data []float32, seg []int16) {
	X, Y, Z := c.Shape[1], c.Shape[2], c.Shape[3]
	clear(data)
	for i := range seg {
		seg[i] = -1
	}
	var lo, hi [3]int
	size := [3]int{X, Y, Z}
	for a := range 3 {
		lo[a] = max(start[a], 0)
		hi[a] = min(start[a]+p[a], size[a])
		if hi[a] <= lo[a] {
			return
		}
	}
	n := p[0] * p[1] * p[2]
	vox := X * Y * Z
	w := hi[2] - lo[2]
	for x := lo[0]; x < hi[0]; x++ {
		for y := lo[1]; y < hi[1]; y++ {
			src := (x*Y+y)*Z + lo[2]
			dst := ((x-start[0])*p[1]+(y-start[1]))*p[2] + lo[2] - start[2]
			copy(seg[dst:dst+w], c.Seg[src:src+w])
			for ch := range c.Shape[0] {
				copy(data[ch*n+dst:ch*n+dst+w], c.Data[ch*vox+src:ch*vox+src+w])
			}
		}
	}
}
