// Package resample reimplements nnU-Net's resample_data_or_seg_to_shape:
// skimage.transform.resize (mode "edge", no anti-aliasing, clipped to the
// input range) for intensity data, batchgenerators' per-label
// resize_segmentation for label maps, and the separate-z path for
// anisotropic spacings (in-plane resize per slice, nearest neighbour along
// the thick axis).
//
// Volumes are single channels stored in C order with shape (X, Y, Z). Cubic
// (order 3) interpolation follows scipy.ndimage.zoom with grid_mode=True: the
// line is padded by 12 voxels with edge replication, B-spline prefiltered
// with mirror boundaries and evaluated at (o+0.5)*in/out-0.5. The tensor
// product is evaluated axis by axis (separable), which matches scipy to about
// 1e-14. Orders 0 and 1 are evaluated as scipy does, corner by corner in the
// same floating-point order, so label maps come out identical.
//
// Work is split over lines or slices; every output value is computed by the
// same arithmetic whatever the split, so results do not depend on the number
// of workers.
package resample
