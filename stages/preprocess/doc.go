// Package preprocess is nnU-Net v2's DefaultPreprocessor in Go (spec §7):
// per case it transposes, crops to the nonzero region, normalizes each
// channel, resamples data and segmentation to the configuration's spacing
// and samples foreground class locations, reproducing upstream's arrays.
//
// The `preprocess` workflow stage (New) writes, under its data output, one
// folder per configuration named by its data identifier with per case
// <case>.npy (float32 (C, X, Y, Z)), <case>_seg.npy (int8, or int16 when a
// label exceeds 127) and <case>.json (upstream's properties plus the reader
// geometry), and manifest.json listing everything (ReadManifest, Load).
//
// At inference, NewConfig(plans, name, nil) and ReadCase + Config.Run
// preprocess one case in memory; Config.ProbabilitiesToOriginal and
// Config.SegToOriginal bring network output back onto the original image
// grid (resample to the cropped shape, uncrop, un-transpose).
package preprocess
