// Package augment is nnU-Net's training data augmentation (spec §10.5,
// batchgeneratorsv2's get_training_transforms) for 3-D patches in float32:
// spatial rotation and scaling, Gaussian noise, Gaussian blur, brightness,
// contrast, low-resolution simulation, gamma (inverted and plain),
// mirroring, image masking and the removal of the −1 label. An Augmenter
// holds its scratch buffers, so applying it allocates nothing per voxel;
// Stream runs augmenters in background goroutines and hands batches over in
// order, so results do not depend on goroutine timing.
package augment

import (
	"fmt"
	"math"
)

// Upstream constants of nnUNetTrainer's augmentation.
const (
	// AnisoThreshold makes a 3-D patch "dummy 2-D" when max(patch)/patch[0]
	// exceeds it.
	AnisoThreshold = 3
	// ScaleMin and ScaleMax bound the scaling factor of the initial-patch
	// computation (get_patch_size's scale range).
	ScaleMin, ScaleMax = 0.85, 1.25
)

// Config fixes the augmentation of one training configuration.
type Config struct {
	Patch       [3]int  // network patch (output of the spatial transform)
	Rotation    float64 // maximum |angle| in radians of each rotation
	Dummy2D     bool    // rotate and scale only within axes 1 and 2
	MirrorAxes  []int   // axes flipped at random (and used for test-time mirroring)
	MaskChannel []bool  // per channel: zero the image outside the nonzero region (use_mask_for_norm)
}

// Configure returns upstream's augmentation settings for a 3-D patch
// (configure_rotation_dummyDA_mirroring_and_inital_patch_size) and the
// enlarged patch the data loader must cut for it.
func Configure(patch [3]int, maskChannel []bool) (Config, [3]int) {
	c := Config{Patch: patch, MirrorAxes: []int{0, 1, 2}, MaskChannel: maskChannel}
	c.Dummy2D = float64(max(patch[0], patch[1], patch[2]))/float64(patch[0]) > AnisoThreshold
	if c.Dummy2D {
		c.Rotation = 180. / 360 * 2 * math.Pi
	} else {
		c.Rotation = 30. / 360 * 2 * math.Pi
	}
	ini := InitialPatchSize(patch[:], c.Rotation)
	initial := [3]int(ini)
	if c.Dummy2D {
		initial[0] = patch[0]
	}
	return c, initial
}

// InitialPatchSize is batchgenerators' get_patch_size(patch, rot, rot, rot,
// (0.85, 1.25)) for a 2- or 3-D patch: the patch vector rotated about each
// axis separately by min(rot, 90°), the per-axis maximum of the absolute
// components and the patch, divided by 0.85 and truncated.
func InitialPatchSize(patch []int, rot float64) []int {
	rot = min(rot, 90./360*2*math.Pi)
	c, s := math.Cos(rot), math.Sin(rot)
	v := make([]float64, len(patch))
	for i, p := range patch {
		v[i] = float64(p)
	}
	final := append([]float64(nil), v...)
	take := func(r []float64) {
		for i := range final {
			final[i] = max(final[i], math.Abs(r[i]))
		}
	}
	switch len(patch) {
	case 3:
		// Row vector times the rotation matrix, as rotate_coords_3d.
		rx := [3][3]float64{{1, 0, 0}, {0, c, -s}, {0, s, c}}
		ry := [3][3]float64{{c, 0, s}, {0, 1, 0}, {-s, 0, c}}
		rz := [3][3]float64{{c, -s, 0}, {s, c, 0}, {0, 0, 1}}
		for _, m := range [][3][3]float64{rx, ry, rz} {
			r := make([]float64, 3)
			for j := range 3 {
				for i := range 3 {
					r[j] += v[i] * m[i][j]
				}
			}
			take(r)
		}
	case 2:
		take([]float64{v[0]*c + v[1]*s, -v[0]*s + v[1]*c})
	default:
		panic(fmt.Sprintf("augment: patch %v must have 2 or 3 axes", patch))
	}
	out := make([]int, len(patch))
	for i, f := range final {
		out[i] = int(f / ScaleMin)
	}
	return out
}
