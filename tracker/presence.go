package tracker

// Presence is one tracked presence, as reads and diffs report it.
type Presence struct {
	// Key is the key it was tracked under, unique per owner and topic.
	Key string
	// Ref is its "phx_ref": new at every Track and Update, unique in the cluster. Phoenix carries it
	// inside the meta map; here it is a field of its own (docs/differences-from-phoenix.md), which lets
	// presences with the same metadata share one Meta map.
	Ref string
	// RefPrev is, after an Update, the ref it replaced (Phoenix's "phx_ref_prev"); "" otherwise.
	RefPrev string
	// Meta is its metadata as given to Track or Update (normalised as peers decode it: see Track), without
	// the refs. It is shared, not copied, often by many presences: treat it as read-only. nil when empty.
	Meta map[string]any
	// Owner is the opaque id of the owner that tracks it, unique on its node only (a counter): the pair
	// (Replica, Owner) identifies an owner across the cluster.
	Owner string
	// Replica is the name of the node whose replica tracks it.
	Replica string
}

// WithRefs returns p's metadata as Phoenix shows it: a fresh map of Meta plus "phx_ref" and, after an
// update, "phx_ref_prev".
func (p Presence) WithRefs() map[string]any {
	m := make(map[string]any, len(p.Meta)+2)
	for k, v := range p.Meta {
		m[k] = v
	}
	if p.Ref != "" {
		m[MetaRef] = p.Ref
	}
	if p.RefPrev != "" {
		m[MetaRefPrev] = p.RefPrev
	}
	return m
}
