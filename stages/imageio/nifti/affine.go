package nifti

import "math"

// Affine is a 4x4 voxel-to-world (RAS+ mm) transform, row-major.
type Affine [4][4]float64

// SForm returns the sform matrix built from srow_x/y/z, whatever sform_code
// says (nibabel get_sform).
func (g *Geometry) SForm() Affine {
	return Affine{g.SrowX, g.SrowY, g.SrowZ, {0, 0, 0, 1}}
}

// QForm returns the qform matrix built from the quaternion, qoffset and
// pixdim, whatever qform_code says (nibabel get_qform). nibabel computes the
// rotation in extended precision; this uses float64, so entries may differ
// from nibabel's in the last bits.
func (g *Geometry) QForm() Affine {
	b, c, d := g.QuaternB, g.QuaternC, g.QuaternD
	// nibabel fillpositive: w = sqrt(1 - (b²+c²+d²)), 0 when slightly negative.
	a := 0.0
	if w2 := 1 - (b*b + c*c + d*d); w2 > 0 {
		a = math.Sqrt(w2)
	}
	var r [3][3]float64
	if nq := a*a + b*b + c*c + d*d; nq < 2.220446049250313e-16 {
		r = [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}
	} else {
		s := 2 / nq
		x, y, z := b*s, c*s, d*s
		wx, wy, wz := a*x, a*y, a*z
		xx, xy, xz := b*x, b*y, b*z
		yy, yz, zz := c*y, c*z, d*z
		r = [3][3]float64{
			{1 - (yy + zz), xy - wz, xz + wy},
			{xy + wz, 1 - (xx + zz), yz - wx},
			{xz - wy, yz + wx, 1 - (xx + yy)},
		}
	}
	zooms := [3]float64{g.Pixdim[1], g.Pixdim[2], g.Pixdim[3]}
	if g.Pixdim[0] == -1 {
		zooms[2] = -zooms[2]
	}
	var m Affine
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			m[i][j] = r[i][j] * zooms[j]
		}
	}
	m[0][3], m[1][3], m[2][3] = g.QoffsetX, g.QoffsetY, g.QoffsetZ
	m[3] = [4]float64{0, 0, 0, 1}
	return m
}

// BaseAffine returns the pixdim-only affine nibabel uses when neither
// qform nor sform is set (shape_zoom_affine with x flipped): the centre of
// the volume at the origin.
func (h *Header) BaseAffine() Affine {
	shape := [3]float64{1, 1, 1}
	zooms := [3]float64{1, 1, 1}
	for i := 0; i < 3 && i < int(h.Dim[0]); i++ {
		shape[i] = float64(h.Dim[i+1])
		zooms[i] = h.Pixdim[i+1]
	}
	zooms[0] = -zooms[0]
	var m Affine
	for i := 0; i < 3; i++ {
		m[i][i] = zooms[i]
		m[i][3] = -((shape[i] - 1) / 2) * zooms[i]
	}
	m[3][3] = 1
	return m
}

// BestAffine returns the affine nibabel attaches to the image
// (get_best_affine): the sform if sform_code > 0, else the qform if
// qform_code > 0, else BaseAffine.
func (h *Header) BestAffine() Affine {
	switch {
	case h.SformCode > 0:
		return h.SForm()
	case h.QformCode > 0:
		return h.QForm()
	}
	return h.BaseAffine()
}
