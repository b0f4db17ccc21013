package tracker

// Diff is what changed in one topic: presences that joined and presences that left. An update is a
// leave of the old metadata and a join of the new one in the same Diff; the new presence's RefPrev
// ("phx_ref_prev") is the Ref of the old.
type Diff struct {
	Joins  []Presence
	Leaves []Presence
}

// valueDiff is a topic's Diff as the shard records it: the values, rendered as Presences only when the
// handler's goroutine delivers them (never on the shard, and never without a handler).
type valueDiff struct {
	joins, leaves []*value
}

// diffBuilder groups joins and leaves by topic.
type diffBuilder map[string]*valueDiff

func (b diffBuilder) topic(topic string) *valueDiff {
	d := b[topic]
	if d == nil {
		d = &valueDiff{}
		b[topic] = d
	}
	return d
}

func (b diffBuilder) join(v *value) {
	d := b.topic(v.topic)
	d.joins = append(d.joins, v)
}

func (b diffBuilder) leave(v *value) {
	d := b.topic(v.topic)
	d.leaves = append(d.leaves, v)
}

// size returns the number of joins and leaves.
func (b diffBuilder) size() int {
	n := 0
	for _, d := range b {
		n += len(d.joins) + len(d.leaves)
	}
	return n
}

// render returns the diff as the handler gets it, topics without changes left out.
func (b diffBuilder) render() map[string]Diff {
	out := make(map[string]Diff, len(b))
	for topic, d := range b {
		if len(d.joins)+len(d.leaves) == 0 {
			continue
		}
		var td Diff
		if len(d.joins) > 0 {
			td.Joins = make([]Presence, len(d.joins))
			for i, v := range d.joins {
				td.Joins[i] = v.presence()
			}
		}
		if len(d.leaves) > 0 {
			td.Leaves = make([]Presence, len(d.leaves))
			for i, v := range d.leaves {
				td.Leaves[i] = v.presence()
			}
		}
		out[topic] = td
	}
	return out
}
