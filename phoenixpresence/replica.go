package phoenixpresence

import "time"

// remote is what a replica knows of another one (Phoenix.Tracker.Replica): its current ref, when its
// last heartbeat came, and whether it is down.
type remote struct {
	ref  replicaRef
	last time.Time
	down bool
}

// changes collects the presences that joined and left during one step, in order.
type changes struct {
	joins, leaves []*value
}

func (c *changes) join(vs ...*value)  { c.joins = append(c.joins, vs...) }
func (c *changes) leave(vs ...*value) { c.leaves = append(c.leaves, vs...) }

// replicas is the shard's replica table, keyed by node name, driving the state's replica_up,
// replica_down and remove_down_replicas as Phoenix.Tracker.Shard does.
type replicas struct {
	st     *state
	byName map[string]*remote
	events func(event string, r replicaRef) // replica_up, replica_down, replica_permdown; may be nil
}

func (rs *replicas) event(e string, r replicaRef) {
	if rs.events != nil {
		rs.events(e, r)
	}
}

func (rs *replicas) up(r replicaRef, c *changes) {
	rs.event("replica_up", r)
	c.join(rs.st.replicaUp(r)...)
}

func (rs *replicas) downed(r replicaRef, c *changes) {
	rs.event("replica_down", r)
	c.leave(rs.st.replicaDown(r)...)
}

func (rs *replicas) permdown(r replicaRef) {
	rs.event("replica_permdown", r)
	rs.st.removeDownReplica(r)
	if cur, ok := rs.byName[r.Name]; ok && cur.ref == r {
		delete(rs.byName, r.Name)
	}
}

// heartbeat is Shard.handle_heartbeat: a replica that is new, back, or restarted (a new vsn: the old
// one is gone for good) comes up.
func (rs *replicas) heartbeat(r replicaRef, now time.Time, c *changes) {
	prev, ok := rs.byName[r.Name]
	rs.byName[r.Name] = &remote{ref: r, last: now}
	switch {
	case !ok:
		rs.up(r, c)
	case prev.ref.Vsn == r.Vsn && !prev.down:
	case prev.ref.Vsn == r.Vsn:
		rs.up(r, c)
	case !prev.down:
		rs.downed(prev.ref, c)
		rs.permdown(prev.ref)
		rs.byName[r.Name] = &remote{ref: r, last: now}
		rs.up(r, c)
	default:
		rs.permdown(prev.ref)
		rs.byName[r.Name] = &remote{ref: r, last: now}
		rs.up(r, c)
	}
}

// gracefulPermdown is the handling of {:pub, :graceful_permdown, ref}: the replica leaves at once.
func (rs *replicas) gracefulPermdown(r replicaRef, c *changes) {
	cur, ok := rs.byName[r.Name]
	if !ok || cur.ref != r {
		return
	}
	if !cur.down {
		rs.downed(r, c)
	}
	rs.permdown(r)
}

// detectDowns is Shard.detect_downs: silent for more than downPeriod, a replica is down (its presences
// leave); for more than permdownPeriod, it is gone for good.
func (rs *replicas) detectDowns(now time.Time, downPeriod, permdownPeriod time.Duration, c *changes) {
	for _, r := range rs.byName {
		silent := now.Sub(r.last)
		switch {
		case silent > permdownPeriod:
			if !r.down {
				rs.downed(r.ref, c)
			}
			rs.permdown(r.ref)
		case silent > downPeriod && !r.down:
			r.down = true
			rs.downed(r.ref, c)
		}
	}
}
