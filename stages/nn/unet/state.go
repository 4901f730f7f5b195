package unet

import (
	"fmt"
	"slices"
	"strings"
)

// Tensor is a named parameter's value outside a model: PyTorch shape and
// row-major float32 data.
type Tensor struct {
	Shape []int
	Data  []float32
}

// State returns a copy of every parameter, keyed by its canonical upstream
// state_dict key.
func (m *Model) State() map[string]Tensor {
	st := make(map[string]Tensor, len(m.params))
	for _, p := range m.params {
		st[p.Name] = Tensor{Shape: slices.Clone(p.Shape), Data: slices.Clone(p.Data)}
	}
	return st
}

// Load copies values from state into the parameters. Keys may be canonical
// or upstream's aliases (`all_modules.0|1`, `decoder.encoder.`), so a full
// upstream state_dict loads. Every parameter must be present unless keep
// reports true for its name, in which case a missing key leaves the current
// value (upstream's pretrained-weight rule passes keep = "contains
// .seg_layers."). Unknown keys and shape mismatches are errors; nothing is
// changed when Load fails.
func (m *Model) Load(state map[string]Tensor, keep func(name string) bool) error {
	src := make(map[string]Tensor, len(m.params))
	keys := make([]string, 0, len(state))
	for k := range state {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		name := CanonicalName(k)
		p, ok := m.byName[name]
		if !ok {
			return fmt.Errorf("load parameters: key %q is not a parameter of this network", k)
		}
		t := state[k]
		if !slices.Equal(t.Shape, p.Shape) || len(t.Data) != len(p.Data) {
			return fmt.Errorf("load parameters: %q has shape %v (%d values), want %v", k, t.Shape, len(t.Data), p.Shape)
		}
		if prev, dup := src[name]; dup && !slices.Equal(prev.Data, t.Data) {
			return fmt.Errorf("load parameters: %q and its alias hold different values", name)
		}
		src[name] = t
	}
	for _, p := range m.params {
		if _, ok := src[p.Name]; !ok && (keep == nil || !keep(p.Name)) {
			return fmt.Errorf("load parameters: %q is missing", p.Name)
		}
	}
	for _, p := range m.params {
		if t, ok := src[p.Name]; ok {
			copy(p.Data, t.Data)
		}
	}
	return nil
}

// CanonicalName maps an upstream state_dict key to the key this package
// stores the parameter under: `decoder.encoder.X` -> `encoder.X`,
// `all_modules.0` -> `conv`, `all_modules.1` -> `norm`.
func CanonicalName(key string) string {
	if rest, ok := strings.CutPrefix(key, "decoder.encoder."); ok {
		key = "encoder." + rest
	}
	key = strings.Replace(key, ".all_modules.0.", ".conv.", 1)
	return strings.Replace(key, ".all_modules.1.", ".norm.", 1)
}

// StateDictKeys lists every key of upstream's state_dict for this network,
// aliases included, in upstream order (spec §9.5).
func (m *Model) StateDictKeys() []string {
	var keys []string
	blockKeys := func(prefix string, b block) {
		for _, mod := range []string{"conv", "norm", "all_modules.0", "all_modules.1"} {
			if (mod == "conv" || mod == "all_modules.0") && !b.conv.bias {
				keys = append(keys, prefix+b.name+"."+mod+".weight")
				continue
			}
			keys = append(keys, prefix+b.name+"."+mod+".weight", prefix+b.name+"."+mod+".bias")
		}
	}
	for _, prefix := range []string{"", "decoder."} {
		for _, stage := range m.lay.encoder {
			for _, b := range stage {
				blockKeys(prefix, b)
			}
		}
	}
	for _, stage := range m.lay.decoder {
		for _, b := range stage {
			blockKeys("", b)
		}
	}
	for _, ls := range [][]convLayer{m.lay.transp, m.lay.seg} {
		for _, c := range ls {
			for _, ps := range c.params() {
				keys = append(keys, ps.name)
			}
		}
	}
	return keys
}
