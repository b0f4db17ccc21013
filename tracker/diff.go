package tracker

// Diff is what changed in one topic: presences that joined and presences that left. An update is a
// leave of the old metadata and a join of the new one in the same Diff; the new meta's "phx_ref_prev"
// names the ref of the old.
type Diff struct {
	Joins  []Presence
	Leaves []Presence
}

// diffBuilder groups joins and leaves by topic.
type diffBuilder map[string]Diff

func (b diffBuilder) join(v *value) {
	d := b[v.topic]
	d.Joins = append(d.Joins, v.presence())
	b[v.topic] = d
}

func (b diffBuilder) leave(v *value) {
	d := b[v.topic]
	d.Leaves = append(d.Leaves, v.presence())
	b[v.topic] = d
}
