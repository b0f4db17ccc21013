package tracker

// Presence is one tracked presence, as reads and diffs report it.
type Presence struct {
	// Key is the key it was tracked under, unique per owner and topic.
	Key string
	// Owner is the opaque id of the owner that tracks it, unique on its node only (a counter): the pair
	// (Replica, Owner) identifies an owner across the cluster.
	Owner string
	// Meta is its metadata. It is shared, not copied: treat it as read-only.
	Meta map[string]any
	// Replica is the name of the node whose replica tracks it.
	Replica string
}
