package engine

import (
	"context"

	"github.com/nnrunner/nnrunner/pipeline/record"
)

// StageStatus is one stage's committed result and what the next apply
// would do with it.
type StageStatus struct {
	Stage string `json:"stage"`
	// State is "up to date", "outdated" or "never run".
	State     string            `json:"state"`
	Committed *record.Committed `json:"committed,omitempty"`
	Next      *NodePlan         `json:"next"`
}

// Status returns every stage's status in topological order.
func (e *Engine) Status(ctx context.Context) ([]*StageStatus, error) {
	plan, err := e.Plan(ctx, Selection{}, false)
	if err != nil {
		return nil, err
	}
	out := make([]*StageStatus, 0, len(plan.Nodes))
	for _, n := range plan.Nodes {
		st := &StageStatus{Stage: n.Stage, Committed: n.committed, Next: n}
		switch {
		case n.committed == nil:
			st.State = "never run"
		case n.Decision == Skip:
			st.State = "up to date"
		default:
			st.State = "outdated"
		}
		out = append(out, st)
	}
	return out, nil
}
