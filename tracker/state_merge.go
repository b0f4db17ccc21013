package tracker

import (
	"errors"
	"maps"
)

// errNotContiguous is returned by mergeDeltas when the ranges of two deltas neither overlap nor touch.
var errNotContiguous = errors.New("tracker: deltas are not contiguous")

// mergeDelta merges a delta (from a heartbeat or a transfer) into the state and returns the values that
// joined and left, for the diff. See merge.
func (s *state) mergeDelta(d *delta) (joins, leaves []*value) {
	return s.merge(nil, d.clouds, d.values)
}

// mergeExtract merges a full-state extract (from a transfer) into the state and returns the values that
// joined and left, for the diff. See merge.
func (s *state) mergeExtract(e *extract) (joins, leaves []*value) {
	return s.merge(e.context, e.clouds, e.values)
}

// mergeValues merges the values of a part of a full state (codec_part.go) as they arrive: each value of a
// known replica other than this one whose dot was not seen here joins, and its dot is seen. It removes
// nothing and raises no context: the final extract of the stream does that (mergeExtractParts). Adding a
// value by its dot is a join with a sub-state of the sender's, so merging parts in any order, between any
// other merges, ends where merging the whole extract would. It returns the values that joined (of up
// replicas, for the diff) and appends to unknown the replicas whose values it had to ignore (no heartbeat
// heard yet, or permdowned): the final merge must not raise their context past values it never took.
func (s *state) mergeValues(values []*value, unknown map[replicaRef]struct{}, mark uint32) (joins []*value) {
	var r *replicaState
	for _, v := range values {
		if r == nil || r.ref != v.tag.replica { // values come grouped by replica
			r = s.replicas[v.tag.replica]
		}
		switch {
		case r == nil:
			unknown[v.tag.replica] = struct{}{}
			continue
		case r == s.self || r.seen(v.tag.clock):
			continue
		}
		if v.tag.clock == r.clock+1 && r.cloud == nil { // the next dot, as a rule: values come by clock
			r.clock++
		} else {
			r.addDot(v.tag.clock)
			r.compact()
		}
		v.mark = mark
		s.index(v, s.topicSet(v.topic), r)
		if r.status == replicaUp {
			joins = append(joins, v)
		}
	}
	return joins
}

// expectValues makes room, in a replica that holds no value yet, for those up to clock (its own clock, as
// its heartbeats show it, when its full state is about to come in parts): its index then does not grow
// step by step to a million entries. At most maxExpectedValues, whatever clock says.
func (s *state) expectValues(ref replicaRef, clock uint64) {
	if r := s.replicas[ref]; r != nil && r != s.self && len(r.values) == 0 && clock > r.clock {
		r.values = make(map[uint64]*value, min(clock-r.clock, maxExpectedValues))
	}
}

// maxExpectedValues bounds the room expectValues makes (an index of 256 Ki values: about 4 MiB).
const maxExpectedValues = 1 << 18

// mergeExtractParts merges the final extract of a full state sent in parts, whose values came before it
// (merged by mergeValues; their tags in got): the removes it observes (held values its context or clouds
// have seen, neither in it nor in got), and its context and clouds, except for the replicas in unknown.
func (s *state) mergeExtractParts(e *extract, got *tagSet, unknown map[replicaRef]struct{}) (joins, leaves []*value) {
	if got.len() == 0 && len(unknown) == 0 {
		return s.mergeExtract(e)
	}
	ctx, clouds := e.context, e.clouds
	if len(unknown) > 0 {
		ctx, clouds = maps.Clone(ctx), maps.Clone(clouds)
		for ref := range unknown {
			delete(ctx, ref)
			delete(clouds, ref)
		}
	}
	return s.mergeHolding(ctx, clouds, e.values, got)
}

// mergeDeltaParts merges the final delta of a delta sent in parts (its range and clouds, no values),
// whose values came before it (merged by mergeValues; their tags in got): the removes it carries (dots in
// its clouds neither in it nor in got) and its clouds, except for the replicas in unknown.
func (s *state) mergeDeltaParts(d *delta, got *tagSet, unknown map[replicaRef]struct{}) (joins, leaves []*value) {
	clouds := d.clouds
	if len(unknown) > 0 {
		clouds = maps.Clone(clouds)
		for ref := range unknown {
			delete(clouds, ref)
		}
	}
	return s.mergeHolding(nil, clouds, d.values, got)
}

// merge joins a remote set, seen through its context (nil for a delta), clouds and values (Phoenix's
// State.merge):
//
//   - Joins: remote values tagged by a known replica, other than this one, whose dot was not seen here.
//     Values of replicas that are unknown (no heartbeat yet) or permdowned are ignored.
//   - Observed removes: a held value of another replica whose dot the remote has seen but does not hold was
//     removed; it leaves, and its dot goes into the own delta as a tombstone, so the remove travels on
//     through this replica (transitive propagation, Phoenix PR #111).
//   - The context and clouds take the upper bound with the remote's, for known replicas only, and compact.
//
// Own values are never joined or removed by a merge: only this replica adds and removes them. Joins and
// leaves of values of down replicas happen but are not reported (they are hidden, and replicaUp reports them
// when the replica returns). Merging is idempotent, commutative and associative in the resulting state (the
// tombstones it queues for re-gossip may differ with the order); merging what was already merged reports
// nothing.
func (s *state) merge(rctx causalContext, rclouds dotClouds, rvalues map[tag]*value) (joins, leaves []*value) {
	return s.mergeHolding(rctx, rclouds, rvalues, nil)
}

// mergeHolding is merge of a remote set that also holds the values tagged in also (merged before, from
// the parts of a full state): none of them is taken for removed.
func (s *state) mergeHolding(rctx causalContext, rclouds dotClouds, rvalues map[tag]*value, also *tagSet) (joins, leaves []*value) {
	var adds []*value
	var addsTo []*replicaState
	for _, v := range rvalues {
		r := s.replicas[v.tag.replica]
		if r == nil || r == s.self || r.seen(v.tag.clock) {
			continue
		}
		adds = append(adds, v)
		addsTo = append(addsTo, r)
	}

	if rctx == nil {
		leaves = s.observeDeltaRemoves(rclouds, rvalues, also, leaves)
	} else {
		leaves = s.observeExtractRemoves(rctx, rclouds, rvalues, also, leaves)
	}

	for ref, clock := range rctx {
		if r := s.replicas[ref]; r != nil && r != s.self {
			r.raiseClock(clock)
		}
	}
	for i, v := range adds {
		r := addsTo[i]
		r.addDot(v.tag.clock) // a no-op when the context was raised past it
		s.index(v, s.topicSet(v.topic), r)
		if r.status == replicaUp {
			joins = append(joins, v)
		}
	}
	for ref, cloud := range rclouds {
		r := s.replicas[ref]
		if r == nil || r == s.self {
			continue
		}
		for c := range cloud {
			r.addDot(c)
		}
		r.compact()
	}
	for _, r := range addsTo {
		r.compact()
	}
	return joins, leaves
}

// observeDeltaRemoves removes the held values whose dots are in a delta's clouds but not in its values.
// It walks the smaller of the remote cloud and the local values, so a small delta costs little.
func (s *state) observeDeltaRemoves(rclouds dotClouds, rvalues map[tag]*value, also *tagSet, leaves []*value) []*value {
	removed := func(v *value) bool {
		if rvalues[v.tag] != nil {
			return false
		}
		return !also.holds(v)
	}
	for ref, cloud := range rclouds {
		r := s.replicas[ref]
		if r == nil || r == s.self || len(r.values) == 0 {
			continue
		}
		if len(cloud) <= len(r.values) {
			for c := range cloud {
				if v := r.values[c]; v != nil && removed(v) {
					leaves = s.observeRemove(r, v, leaves)
				}
			}
			continue
		}
		for c, v := range r.values {
			if _, seen := cloud[c]; seen && removed(v) {
				leaves = s.observeRemove(r, v, leaves)
			}
		}
	}
	return leaves
}

// observeExtractRemoves removes the held values whose dots an extract has seen (context or clouds) but does
// not hold.
func (s *state) observeExtractRemoves(rctx causalContext, rclouds dotClouds, rvalues map[tag]*value, also *tagSet, leaves []*value) []*value {
	for ref, r := range s.replicas {
		if r == s.self || len(r.values) == 0 {
			continue
		}
		rclock := rctx[ref]
		cloud := rclouds[ref]
		if rclock == 0 && len(cloud) == 0 {
			continue
		}
		for c, v := range r.values {
			if c > rclock {
				if _, seen := cloud[c]; !seen {
					continue
				}
			}
			if rvalues[v.tag] != nil {
				continue
			}
			if !also.holds(v) {
				leaves = s.observeRemove(r, v, leaves)
			}
		}
	}
	return leaves
}

// observeRemove removes a value of another replica that a remote has seen removed, and records the remove
// in the own delta for re-gossip.
func (s *state) observeRemove(r *replicaState, v *value, leaves []*value) []*value {
	delete(r.values, v.tag.clock)
	s.unindex(v)
	s.delta.tombstone(v.tag)
	if r.status == replicaUp {
		leaves = append(leaves, v)
	}
	return leaves
}

// mergeDeltas merges two deltas into a new one (Phoenix's merge_deltas), leaving both unchanged. Their ranges
// must overlap or touch (d2's end dominates-or-equals d1's start and d1's end d2's start), otherwise
// errNotContiguous: the result would claim a range with a hole. The result has the lower bound of the starts,
// the upper bound of the ends, the union of the clouds, and the values of both except those either has
// removed (seen but not held). Merging a delta with itself, or with one it contains, changes nothing.
func mergeDeltas(d1, d2 *delta) (*delta, error) {
	if !dominatesOrEqual(d2.end, d1.start) || !dominatesOrEqual(d1.end, d2.start) {
		return nil, errNotContiguous
	}
	out := &delta{
		start:  lowerbound(d1.start, d2.start),
		end:    upperbound(d1.end, d2.end),
		clouds: make(dotClouds, max(len(d1.clouds), len(d2.clouds))),
		values: make(map[tag]*value, max(len(d1.values), len(d2.values))),
	}
	for _, d := range [2]*delta{d1, d2} {
		for ref, c := range d.clouds {
			oc := out.clouds[ref]
			if oc == nil {
				oc = make(dotCloud, len(c))
				out.clouds[ref] = oc
			}
			for clock := range c {
				oc[clock] = struct{}{}
			}
		}
	}
	for t, v := range d1.values {
		if d2.values[t] != nil || !d2.seen(t) {
			out.values[t] = v
		}
	}
	for t, v := range d2.values {
		if d1.values[t] == nil && !d1.seen(t) {
			out.values[t] = v
		}
	}
	return out, nil
}

// mergeFrom merges d2 into d in place, with mergeDeltas's result: the bounds widen, the clouds unite, d's
// values that d2 has seen removed go, and d2's values that d has neither nor seen come. It costs the size
// of d2, not of d. d must be owned by the caller (deltaGenerations' owned slots) and contiguous with d2;
// d2 is not modified.
func (d *delta) mergeFrom(d2 *delta) {
	for ref, c := range d2.clouds {
		for clock := range c {
			t := tag{replica: ref, clock: clock}
			if d2.values[t] == nil {
				delete(d.values, t) // seen removed by d2
			}
		}
	}
	for t, v := range d2.values {
		if d.values[t] == nil && !d.seen(t) {
			d.values[t] = v
		}
	}
	for ref, c := range d2.clouds {
		dc := d.clouds[ref]
		if dc == nil {
			dc = make(dotCloud, len(c))
			d.clouds[ref] = dc
		}
		for clock := range c {
			dc[clock] = struct{}{}
		}
	}
	for ref, c := range d2.start {
		if cur, ok := d.start[ref]; !ok || c < cur {
			d.start[ref] = c
		}
	}
	for ref, c := range d2.end {
		if cur, ok := d.end[ref]; !ok || c > cur {
			d.end[ref] = c
		}
	}
}

// mergedSize returns the size mergeDeltas(d, d2) would have, in the time of d2's size.
func (d *delta) mergedSize(d2 *delta) int {
	n := d.size()
	for ref, c := range d2.clouds {
		for clock := range c {
			t := tag{replica: ref, clock: clock}
			if !d.seen(t) {
				n++
			}
			if d2.values[t] == nil && d.values[t] != nil {
				n-- // removed by d2
			}
		}
	}
	for t := range d2.values {
		if d.values[t] == nil && !d.seen(t) {
			n++
		}
	}
	return n
}
