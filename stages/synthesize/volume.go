package synthesize

import (
	"math"
	"math/rand/v2"

	"github.com/nnrunner/nnrunner/stages/imageio/nifti"
)

// rng draws deterministic uniform and normal numbers from a PCG stream (the
// PCG algorithm is fixed, so the stream never changes between Go releases).
type rng struct{ src *rand.PCG }

func newRNG(seed uint64, index int) *rng {
	return &rng{src: rand.NewPCG(seed, 0x9e3779b97f4a7c15^uint64(index))}
}

// float returns a uniform number in [0, 1).
func (r *rng) float() float64 { return float64(r.src.Uint64()>>11) / (1 << 53) }

// uniform returns a uniform number in [lo, hi).
func (r *rng) uniform(lo, hi float64) float64 { return lo + (hi-lo)*r.float() }

// normal returns a standard normal number (Box-Muller, one value per call).
func (r *rng) normal() float64 {
	u := 1 - r.float() // (0, 1]
	return math.Sqrt(-2*math.Log(u)) * math.Cos(2*math.Pi*r.float())
}

// ellipsoid is an ellipsoid in mm, rotated by angle about the z axis.
type ellipsoid struct {
	centre [3]float64
	radii  [3]float64
	cos    float64
	sin    float64
}

// inside returns the squared normalised distance of p from the centre
// (< 1 inside).
func (e *ellipsoid) dist2(p [3]float64) float64 {
	dx, dy, dz := p[0]-e.centre[0], p[1]-e.centre[1], p[2]-e.centre[2]
	u := e.cos*dx + e.sin*dy
	v := -e.sin*dx + e.cos*dy
	return (u*u)/(e.radii[0]*e.radii[0]) + (v*v)/(e.radii[1]*e.radii[1]) + (dz*dz)/(e.radii[2]*e.radii[2])
}

// texture is a smooth random field in [-1, 1]: a sum of three plane waves
// with wavelengths of 15 to 40 mm.
type texture struct {
	k     [3][3]float64
	phase [3]float64
}

func newTexture(r *rng) texture {
	var t texture
	for i := range t.k {
		wavelength := r.uniform(15, 40)
		theta, phi := r.uniform(0, math.Pi), r.uniform(0, 2*math.Pi)
		f := 2 * math.Pi / wavelength
		t.k[i] = [3]float64{f * math.Sin(theta) * math.Cos(phi), f * math.Sin(theta) * math.Sin(phi), f * math.Cos(theta)}
		t.phase[i] = r.uniform(0, 2*math.Pi)
	}
	return t
}

func (t *texture) at(p [3]float64) float64 {
	s := 0.0
	for i := range t.k {
		s += math.Sin(t.k[i][0]*p[0] + t.k[i][1]*p[1] + t.k[i][2]*p[2] + t.phase[i])
	}
	return s / 3
}

// volume is one generated case, in file order (x fastest).
type volume struct {
	shape   [3]int
	spacing [3]float64  // float32-exact, as stored in the header
	images  [][]float32 // one slice per channel
	labels  []uint8
}

// header returns the NIfTI header of the case: RAS axes, the volume centred
// on the origin, qform = sform (code 1), millimetres.
func (v *volume) header() *nifti.Header {
	h := &nifti.Header{Version: 1, SclSlope: 1}
	h.Dim = [8]int64{3, int64(v.shape[0]), int64(v.shape[1]), int64(v.shape[2]), 1, 1, 1, 1}
	h.Pixdim = [8]float64{1, v.spacing[0], v.spacing[1], v.spacing[2], 1, 1, 1, 1}
	h.XYZTUnits = 2 | 8 // mm, s
	h.QformCode, h.SformCode = 1, 1
	var off [3]float64
	for i := range off {
		off[i] = float64(float32(-float64(v.shape[i]-1) / 2 * v.spacing[i]))
	}
	h.QoffsetX, h.QoffsetY, h.QoffsetZ = off[0], off[1], off[2]
	h.SrowX = [4]float64{v.spacing[0], 0, 0, off[0]}
	h.SrowY = [4]float64{0, v.spacing[1], 0, off[1]}
	h.SrowZ = [4]float64{0, 0, v.spacing[2], off[2]}
	return h
}

// generateCase draws case i of cfg: geometry first, then anatomy, then
// intensities voxel by voxel in file order, all from the case's own stream.
func generateCase(cfg *Config, i int) *volume {
	r := newRNG(cfg.Seed, i)
	v := &volume{}
	var extent [3]float64 // mm
	for a := 0; a < 3; a++ {
		v.spacing[a] = float64(float32(cfg.Spacing[a] * (1 + cfg.Jitter*r.uniform(-1, 1))))
		v.shape[a] = max(8, int(math.RoundToEven(float64(cfg.Shape[a])*(1+cfg.Jitter*r.uniform(-1, 1)))))
		extent[a] = float64(v.shape[a]) * v.spacing[a]
	}

	// Body: an elliptic cylinder along z.
	bodyA := 0.45 * extent[0] * r.uniform(0.9, 1.05)
	bodyB := 0.38 * extent[1] * r.uniform(0.9, 1.05)
	// Spine: a bone cylinder at the back of the body.
	spineR := 0.12 * math.Min(bodyA, bodyB)
	spineY := -0.65 * bodyB

	// Organ: a rotated ellipsoid inside the body, clear of the spine.
	angle := r.uniform(0, math.Pi)
	organ := ellipsoid{
		radii: [3]float64{
			0.4 * bodyA * r.uniform(0.8, 1.2),
			0.36 * bodyB * r.uniform(0.8, 1.2),
			math.Max(0.28*extent[2]*r.uniform(0.8, 1.2), 2*v.spacing[2]),
		},
		cos: math.Cos(angle), sin: math.Sin(angle),
	}
	maxR := math.Max(organ.radii[0], organ.radii[1])
	organ.centre = [3]float64{
		r.uniform(-1, 1) * math.Max(0, 0.85*bodyA-maxR),
		r.uniform(-0.3, 1) * math.Max(0, 0.85*bodyB-maxR),
		r.uniform(-1, 1) * math.Max(0, 0.45*extent[2]-organ.radii[2]),
	}
	// Lesion: a smaller ellipsoid inside the organ.
	lesion := ellipsoid{cos: 1}
	for a := 0; a < 3; a++ {
		lesion.radii[a] = organ.radii[a] * r.uniform(0.35, 0.5)
		lesion.centre[a] = organ.centre[a] + r.uniform(-0.35, 0.35)*(organ.radii[a]-lesion.radii[a])
	}
	lesion.radii[2] = math.Max(lesion.radii[2], 1.01*v.spacing[2])
	tex := newTexture(r)
	// MR bias field gradients.
	biasX, biasZ := r.uniform(-0.15, 0.15), r.uniform(-0.1, 0.1)

	n := v.shape[0] * v.shape[1] * v.shape[2]
	v.images = make([][]float32, cfg.channels())
	for c := range v.images {
		v.images[c] = make([]float32, n)
	}
	v.labels = make([]uint8, n)
	idx := 0
	var p [3]float64
	for z := 0; z < v.shape[2]; z++ {
		p[2] = (float64(z) - float64(v.shape[2]-1)/2) * v.spacing[2]
		for y := 0; y < v.shape[1]; y++ {
			p[1] = (float64(y) - float64(v.shape[1]-1)/2) * v.spacing[1]
			for x := 0; x < v.shape[0]; x++ {
				p[0] = (float64(x) - float64(v.shape[0]-1)/2) * v.spacing[0]
				inBody := (p[0]*p[0])/(bodyA*bodyA)+(p[1]*p[1])/(bodyB*bodyB) <= 1
				dy := p[1] - spineY
				inSpine := inBody && p[0]*p[0]+dy*dy <= spineR*spineR
				label := uint8(Background)
				if inBody && organ.dist2(p) <= 1 {
					label = Organ
					if cfg.Lesions && lesion.dist2(p) <= 1 {
						label = Lesion
					}
				}
				noise := r.normal()
				var val float64
				if cfg.Modality == CT {
					switch {
					case label == Lesion:
						val = 75 + 15*noise
					case label == Organ:
						val = 135 + 20*tex.at(p) + 15*noise
					case inSpine:
						val = 700 + 60*noise
					case inBody:
						val = 35 + 25*tex.at(p) + 15*noise
					default:
						val = -1000 + 10*noise
					}
				} else {
					bias := 1 + biasX*p[0]/bodyA + biasZ*p[2]/extent[2]
					switch {
					case label == Lesion:
						val = bias * (900 + 40*noise)
					case label == Organ:
						val = bias * (600 + 60*tex.at(p) + 30*noise)
					case inSpine:
						val = bias * (120 + 20*noise)
					case inBody:
						val = bias * (280 + 50*tex.at(p) + 25*noise)
					default:
						val = math.Abs(8 * noise)
					}
					val = math.Max(val, 0)
				}
				v.images[0][idx] = float32(val)
				if cfg.Channels == 2 {
					v.images[1][idx] = float32(adc(label, inBody, inSpine, r.normal()))
				}
				v.labels[idx] = label
				idx++
			}
		}
	}
	return v
}

// adc is the second MR channel, an apparent-diffusion-like map: the organ
// darker than the surrounding tissue, the lesion darker still, fluid-free
// background near 0.
func adc(label uint8, inBody, inSpine bool, noise float64) float64 {
	var v float64
	switch {
	case label == Lesion:
		v = 600 + 50*noise
	case label == Organ:
		v = 1000 + 60*noise
	case inSpine:
		v = 400 + 40*noise
	case inBody:
		v = 1500 + 80*noise
	default:
		v = math.Abs(10 * noise)
	}
	return math.Max(v, 0)
}
