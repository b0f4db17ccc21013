package tracker

// Diff is what changed in one topic: presences that joined and presences that left. An update is a
// leave of the old metadata and a join of the new one in the same Diff; the new meta's "phx_ref_prev"
// names the ref of the old.
type Diff struct {
	Joins  []Presence
	Leaves []Presence
}

// Handler receives a tracker's diffs, grouped by topic: Phoenix.Tracker's handle_diff.
//
// HandleDiff runs on a goroutine of its own per tracker, never on the replication path: calls come one at
// a time, in the order the changes happened, and a slow handler delays only later calls (diffs queue for
// it; none is dropped or reordered). A panic in HandleDiff is recovered and logged, and the next diff is
// delivered as usual. The map and its slices belong to the handler.
type Handler interface {
	HandleDiff(diff map[string]Diff)
}

// HandlerFunc adapts a function to the Handler interface.
type HandlerFunc func(diff map[string]Diff)

// HandleDiff calls f(diff).
func (f HandlerFunc) HandleDiff(diff map[string]Diff) { f(diff) }
