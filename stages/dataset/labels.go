package dataset

import (
	"fmt"
	"slices"
	"strings"
)

// Labels is the label declaration of dataset.json interpreted like
// upstream's LabelManager.
type Labels struct {
	// Names are the label names in declaration order.
	Names []string
	// Values maps each name to its label values (one value unless the name
	// declares a region).
	Values map[string][]int
	// RegionBased is true when any name declares more than one value.
	RegionBased bool
	// RegionsClassOrder is dataset.json's regions_class_order (region mode only).
	RegionsClassOrder []int
	// HasIgnore reports an `ignore` label; IgnoreLabel is its value.
	HasIgnore   bool
	IgnoreLabel int
}

// AllLabels returns every label value except the ignore label, sorted and
// de-duplicated (upstream all_labels).
func (l *Labels) AllLabels() []int {
	var all []int
	for _, name := range l.Names {
		if name == "ignore" {
			continue
		}
		all = append(all, l.Values[name]...)
	}
	slices.Sort(all)
	return slices.Compact(all)
}

// ForegroundLabels returns AllLabels without 0.
func (l *Labels) ForegroundLabels() []int {
	return slices.DeleteFunc(l.AllLabels(), func(v int) bool { return v == 0 })
}

// ForegroundRegions returns, in region mode, the declared regions in
// declaration order without the ignore label and without pure-background
// entries; outside region mode it returns nil.
func (l *Labels) ForegroundRegions() [][]int {
	if !l.RegionBased {
		return nil
	}
	var out [][]int
	for _, name := range l.Names {
		v := l.Values[name]
		if name == "ignore" || (len(v) == 1 && v[0] == 0) {
			continue
		}
		out = append(out, slices.Clone(v))
	}
	return out
}

// NumSegmentationHeads is the number of network output channels: the
// foreground regions in region mode, else all labels incl. background.
func (l *Labels) NumSegmentationHeads() int {
	if l.RegionBased {
		return len(l.ForegroundRegions())
	}
	return len(l.AllLabels())
}

// Expected returns the label values a segmentation may contain: AllLabels
// plus the ignore label.
func (l *Labels) Expected() []int {
	e := l.AllLabels()
	if l.HasIgnore {
		e = append(e, l.IgnoreLabel)
		slices.Sort(e)
		e = slices.Compact(e)
	}
	return e
}

// parseLabels validates the `labels` object (name -> int or list of int,
// in order) and regions_class_order (nil when absent).
func parseLabels(names []string, raw map[string]any, regionsClassOrder []int) (*Labels, error) {
	l := &Labels{Names: names, Values: make(map[string][]int, len(names))}
	for _, name := range names {
		vals, err := labelValues(raw[name])
		if err != nil {
			return nil, fmt.Errorf("labels[%q]: %w", name, err)
		}
		if len(vals) == 0 {
			return nil, fmt.Errorf("labels[%q]: empty list; give at least one label value", name)
		}
		if len(vals) > 1 {
			l.RegionBased = true
		}
		l.Values[name] = vals
	}
	bg, ok := raw["background"]
	if !ok {
		return nil, fmt.Errorf(`labels: "background" is missing; declare "background": 0`)
	}
	if n, isInt := bg.(int64); !isInt || n != 0 {
		return nil, fmt.Errorf(`labels: "background" must be the integer 0, got %v`, bg)
	}
	if ig, ok := raw["ignore"]; ok {
		n, isInt := ig.(int64)
		if !isInt {
			return nil, fmt.Errorf(`labels: "ignore" must be a single integer, got %v`, ig)
		}
		all := l.AllLabels()
		if want := all[len(all)-1] + 1; int(n) != want {
			return nil, fmt.Errorf(`labels: "ignore" must be the highest label plus one (%d), got %d`, want, n)
		}
		l.HasIgnore, l.IgnoreLabel = true, int(n)
	}
	if l.RegionBased {
		if regionsClassOrder == nil {
			return nil, fmt.Errorf("labels declare regions (a name maps to several values) but regions_class_order is missing; add one label value per foreground region")
		}
		if got, want := len(regionsClassOrder), len(l.ForegroundRegions()); got != want {
			return nil, fmt.Errorf("regions_class_order has %d entries, want one per foreground region (%d)", got, want)
		}
		l.RegionsClassOrder = regionsClassOrder
	}
	return l, nil
}

func labelValues(v any) ([]int, error) {
	switch x := v.(type) {
	case int64:
		return []int{int(x)}, nil
	case []any:
		out := make([]int, len(x))
		for i, e := range x {
			n, ok := e.(int64)
			if !ok {
				return nil, fmt.Errorf("element %d is %v; label values must be integers", i, e)
			}
			out[i] = int(n)
		}
		return out, nil
	}
	return nil, fmt.Errorf("want an integer or a list of integers, got %v", v)
}

func formatInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return "[" + strings.Join(s, ", ") + "]"
}
