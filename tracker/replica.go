package tracker

import (
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// replicaRef identifies one incarnation of a tracker replica: the node it runs on and a version that is new
// at every start. A node that restarts is a different replica; the CRDT never confuses the two.
// The zero value is not a valid replica.
type replicaRef struct {
	// Name is the node name (PubSub.NodeName), shared by every shard of the node.
	Name string
	// Vsn is unique per start of the replica and grows with time, so of two refs with the same Name the
	// larger Vsn is the later incarnation.
	Vsn uint64
}

// isZero reports whether r is the zero ref (no replica).
func (r replicaRef) isZero() bool { return r.Vsn == 0 && r.Name == "" }

// String returns "name@vsn".
func (r replicaRef) String() string { return r.Name + "@" + strconv.FormatUint(r.Vsn, 10) }

// lastVsn is the last version handed out by newReplicaRef in this process.
var lastVsn atomic.Uint64

// newReplicaRef returns a new ref for a replica on the named node, like Phoenix's Replica.new: the version
// is the wall clock in microseconds, made strictly increasing within the process, so that two replicas started
// in the same microsecond (or a replica restarted after a clock step back within one process) still differ.
func newReplicaRef(name string) replicaRef {
	now := uint64(time.Now().UnixMicro())
	for {
		last := lastVsn.Load()
		vsn := max(now, last+1)
		if lastVsn.CompareAndSwap(last, vsn) {
			return replicaRef{Name: name, Vsn: vsn}
		}
	}
}

// replicaStatus is what the state knows of a replica's liveness. Permdowned replicas are not a status: they
// are removed from the state and remembered only as tombstones (state.permdowned).
type replicaStatus uint8

const (
	replicaUp replicaStatus = iota
	replicaDown
)

// replicaState is everything the state holds for one known replica: its liveness, its part of the causal
// context (clock and cloud) and the values it owns. A replica is known from replicaUp until
// removeDownReplica; the state's own replica is known from the start and never goes down.
type replicaState struct {
	ref    replicaRef
	status replicaStatus
	// clock is the replica's entry in the context: every dot of this replica with a clock up to it was seen.
	clock uint64
	// cloud holds the seen dots above clock that are not contiguous with it. Nil when empty.
	cloud map[uint64]struct{}
	// values are the values tagged by this replica that the state holds, by the clock of their tag. Always
	// empty for the state's own replica, whose values are in state.owners.
	values map[uint64]*value
}

func newReplicaState(ref replicaRef) *replicaState {
	return &replicaState{ref: ref, values: make(map[uint64]*value)}
}

// seen reports whether the dot (r.ref, clock) is in the causal context (Phoenix's in?).
func (r *replicaState) seen(clock uint64) bool {
	if clock <= r.clock {
		return true
	}
	_, ok := r.cloud[clock]
	return ok
}

// addDot records the dot (r.ref, clock) as seen, without compacting.
func (r *replicaState) addDot(clock uint64) {
	if clock <= r.clock {
		return
	}
	if r.cloud == nil {
		r.cloud = make(map[uint64]struct{})
	}
	r.cloud[clock] = struct{}{}
}

// raiseClock moves the context to clock if that is ahead, dropping the cloud dots it now covers.
func (r *replicaState) raiseClock(clock uint64) {
	if clock <= r.clock {
		return
	}
	r.clock = clock
	for c := range r.cloud {
		if c <= clock {
			delete(r.cloud, c)
		}
	}
	r.compact()
}

// compact moves the cloud dots contiguous with the context into it (Phoenix's compact, for one replica).
func (r *replicaState) compact() {
	for len(r.cloud) > 0 {
		if _, ok := r.cloud[r.clock+1]; !ok {
			break
		}
		delete(r.cloud, r.clock+1)
		r.clock++
	}
	if len(r.cloud) == 0 {
		r.cloud = nil
	}
}

// replicaUp marks ref up and returns the values it owns that become visible again: none the first time the
// replica is seen, its retained values when it returns from down (netsplit healing). Unknown replicas are
// added to the context with clock 0, after which merges accept their values.
//
// A permdowned ref never comes back: replicaUp returns ok == false for it and changes nothing. The shard
// should treat a heartbeat from such a ref as a stale incarnation. Calling it for the state's own ref, or for
// a replica already up, returns no joins.
func (s *state) replicaUp(ref replicaRef) (joins []*value, ok bool) {
	if _, gone := s.permdowned[ref]; gone {
		return nil, false
	}
	r := s.replicas[ref]
	switch {
	case r == nil:
		s.replicas[ref] = newReplicaState(ref)
		return nil, true
	case r.status == replicaUp:
		return nil, true
	}
	r.status = replicaUp
	s.removeDown(r)
	joins = make([]*value, 0, len(r.values))
	for _, v := range r.values {
		joins = append(joins, v)
	}
	return joins, true
}

// replicaDown marks a known replica down and returns the values it owns, now hidden from reads, as leaves.
// The values are kept (and still served in full-state extracts) until the replica comes back up or is
// permdowned. Unknown refs, the state's own ref and replicas already down give no leaves.
func (s *state) replicaDown(ref replicaRef) (leaves []*value) {
	r := s.replicas[ref]
	if r == nil || r == s.self || r.status == replicaDown {
		return nil
	}
	r.status = replicaDown
	s.down = append(s.down, r)
	leaves = make([]*value, 0, len(r.values))
	for _, v := range r.values {
		leaves = append(leaves, v)
	}
	return leaves
}

// removeDownReplica permanently removes a replica (permdown): its values, its context and clouds, its entry
// in the replicas map (Phoenix #179 kept it forever) and its part of the current delta. Nothing about it is
// retained except a tombstone recording now, so that later gossip still carrying the ref (deltas, extracts or
// heartbeats from peers that have not permdowned it yet) is ignored and replicaUp refuses it.
//
// Leaves are returned only if the replica was still up (Phoenix runs down before permdown); for a replica
// already down they were emitted by replicaDown. The state's own ref is never removed.
//
// Tombstones are kept until expirePermdowned drops them; see there for how long that must be.
func (s *state) removeDownReplica(ref replicaRef, now time.Time) (leaves []*value) {
	if ref == s.self.ref {
		return nil
	}
	if _, gone := s.permdowned[ref]; !gone {
		s.permdowned[ref] = now
	}
	r := s.replicas[ref]
	if r != nil {
		if r.status == replicaUp {
			leaves = make([]*value, 0, len(r.values))
		} else {
			s.removeDown(r)
		}
		for _, v := range r.values {
			s.unindex(v)
			if r.status == replicaUp {
				leaves = append(leaves, v)
			}
		}
		delete(s.replicas, ref)
	}
	s.delta.removeReplica(ref)
	return leaves
}

// renew moves the state to a new incarnation of its own replica, ref, keeping its presences: every own value
// is tracked again under a new dot of ref (same topic, owner, key and meta), and the new delta carries them
// all. The old ref is forgotten and tombstoned like a permdowned one. Other replicas' values and context are
// kept, and so are the observed removes not yet gossiped.
//
// This is the way back for a live node that its peers permdowned (a netsplit longer than the permdown
// period): they refuse its ref for good, and accept the new one at its first heartbeat, permdowning the old
// one as for any restart. The shard renews when it sees peers up that leave its ref out of their clocks for
// longer than a down period, and prunes the old ref from its generations (deltaGenerations.removeDownReplica)
// so it does not serve it.
//
// It returns the own values under their old tags as leaves and under the new ones as joins, for views kept
// by tag; presences do not change for users (same topic, owner, key and meta), so the shard need not pass
// these to the handler. Values returned by earlier calls keep their old tags.
func (s *state) renew(ref replicaRef, now time.Time) (leaves, joins []*value) {
	old := s.self
	leaves = slices.Collect(s.ownValues())
	for _, v := range leaves {
		s.unindex(v)
	}
	delete(s.replicas, old.ref)
	s.permdowned[old.ref] = now
	s.self = newReplicaState(ref)
	s.replicas[ref] = s.self
	s.ownCount = 0
	prev := s.delta
	s.resetDelta()
	for r, cloud := range prev.clouds {
		if r != old.ref {
			s.delta.clouds[r] = cloud
		}
	}
	joins = make([]*value, 0, len(leaves))
	for _, v := range leaves {
		nv, _ := s.joinMeta(v.topic, v.owner, v.key, v.meta, v.ref)
		joins = append(joins, nv)
	}
	return leaves, joins
}

// expirePermdowned forgets the permdown tombstones recorded before cutoff and returns how many it dropped.
//
// A tombstone must outlive every copy of the replica's data that could still reach this state. Peers drop a
// silent replica after their own permdown period, and a stale incarnation is replaced at once, so the shard
// should call expirePermdowned(now.Add(-permdownPeriod)) periodically: a ref is then remembered for one
// permdown period after it was removed here, i.e. about two permdown periods after it fell silent. The set
// therefore holds at most the incarnations that died within one permdown period.
func (s *state) expirePermdowned(cutoff time.Time) int {
	n := 0
	for ref, at := range s.permdowned {
		if at.Before(cutoff) {
			delete(s.permdowned, ref)
			n++
		}
	}
	return n
}

// isPermdowned reports whether ref was permdowned and its tombstone has not expired yet.
func (s *state) isPermdowned(ref replicaRef) bool {
	_, ok := s.permdowned[ref]
	return ok
}

// removeDown drops r from the list of down replicas used to filter reads.
func (s *state) removeDown(r *replicaState) {
	for i, d := range s.down {
		if d == r {
			last := len(s.down) - 1
			s.down[i] = s.down[last]
			s.down[last] = nil
			s.down = s.down[:last]
			return
		}
	}
}

// trimPermdowned drops the oldest tombstones beyond n, so that a flood of incarnations (fake or real)
// cannot grow the set without bound, and returns how many it dropped.
func (s *state) trimPermdowned(n int) int {
	over := len(s.permdowned) - n
	if over <= 0 {
		return 0
	}
	type entry struct {
		ref replicaRef
		at  time.Time
	}
	all := make([]entry, 0, len(s.permdowned))
	for ref, at := range s.permdowned {
		all = append(all, entry{ref, at})
	}
	slices.SortFunc(all, func(a, b entry) int { return a.at.Compare(b.at) })
	for _, e := range all[:over] {
		delete(s.permdowned, e.ref)
	}
	return over
}
