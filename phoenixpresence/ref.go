package phoenixpresence

import (
	"cmp"
	"fmt"
)

// replicaRef is a Phoenix.Tracker replica's identity, {node_name, vsn}: the node's name (an atom on the
// wire) and the version its shard chose when it started, so that a restarted node is a new replica.
type replicaRef struct {
	Name string
	Vsn  int64
}

func (r replicaRef) String() string { return fmt.Sprintf("{%s, %d}", r.Name, r.Vsn) }

func compareRef(a, b replicaRef) int {
	if c := cmp.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return cmp.Compare(a.Vsn, b.Vsn)
}

// tag is a dot of the CRDT, {replica, clock}: the event that added a value (or a removed one).
type tag struct {
	Replica replicaRef
	Clock   int64
}

func compareTag(a, b tag) int {
	if c := compareRef(a.Replica, b.Replica); c != 0 {
		return c
	}
	return cmp.Compare(a.Clock, b.Clock)
}
