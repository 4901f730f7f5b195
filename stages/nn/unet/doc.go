// Package unet is nnU-Net's PlainConvUNet (dynamic_network_architectures)
// built from a plans configuration's architecture block, 2-D or 3-D, on a
// gorgonia graph of the custom ops in stages/nn/ops.
//
// A Model holds the parameters, named by upstream's state_dict keys and
// initialised like InitWeights_He(1e-2); State and Load move them by name
// (upstream aliases accepted). A Trainer runs training steps for one batch
// and patch size (forward, deep-supervision weighted DC+CE loss, backward,
// gradient clipping and SGD); a Predictor runs inference. Both share the
// model's parameter slices, so they must not run at the same time; each
// graph's buffers are reused by its next run.
package unet
