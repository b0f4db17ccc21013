package tracker

import "maps"

// dotCloud is a set of seen clocks of one replica.
type dotCloud map[uint64]struct{}

// dotClouds maps replicas to the dots seen from them beyond a context (Phoenix's clouds).
type dotClouds map[replicaRef]dotCloud

// delta is a delta-state of the set (Phoenix's delta-mode State): the values added and the dots seen within a
// range of clocks. A dot in the clouds whose value is absent is a remove. Its context is always empty, so
// "seen by a delta" means "in its clouds".
//
// Invariants, kept by every operation here and checked when decoding: start and end have the same replicas
// and start <= end; the range is complete: for each of its replicas, every dot in (start, end] is in the
// clouds (mergeDeltas refuses to make holes); every value's replica is in the range with start < clock <= end,
// and its dot is in the clouds; clocks of dots are never 0.
//
// The state's current delta is mutated by local operations and merges until takeDelta hands it out; from then
// on a delta is immutable, so generations, encoders and other states may share it.
type delta struct {
	start, end causalContext
	clouds     dotClouds
	values     map[tag]*value
}

// extract is a full-state transfer (Phoenix's extract of a normal-mode State): the context, clouds and values
// of the replicas the requester knows. Immutable once built.
type extract struct {
	context causalContext
	clouds  dotClouds
	values  map[tag]*value
	// list holds the values instead of values in an extract made to be sent in parts
	// (extractForTransfer): the parts' encoder sorts a slice, and a map of a million values would cost
	// its sender a third of a second to build.
	list []*value
}

// seen reports whether the delta has seen the dot t.
func (d *delta) seen(t tag) bool {
	_, ok := d.clouds[t.replica][t.clock]
	return ok
}

// addDot records t as seen.
func (d *delta) addDot(t tag) {
	c := d.clouds[t.replica]
	if c == nil {
		c = make(dotCloud)
		d.clouds[t.replica] = c
	}
	c[t.clock] = struct{}{}
}

// tombstone records the remove of the value tagged t: seen, not held.
func (d *delta) tombstone(t tag) {
	d.addDot(t)
	delete(d.values, t)
}

// size is the number of values plus the number of dots (Phoenix's delta_size); generations cap it.
func (d *delta) size() int {
	n := len(d.values)
	for _, c := range d.clouds {
		n += len(c)
	}
	return n
}

// hasDots reports whether any cloud is non-empty (Phoenix's has_delta?).
func (d *delta) hasDots() bool {
	for _, c := range d.clouds {
		if len(c) > 0 {
			return true
		}
	}
	return false
}

// rangeHole returns a replica of the range that has a dot in (start, end] missing from the clouds, if any.
func (d *delta) rangeHole() (replicaRef, bool) {
	for ref, end := range d.end {
		start := d.start[ref]
		n := uint64(0)
		for c := range d.clouds[ref] {
			if c > start && c <= end {
				n++
			}
		}
		if n != end-start {
			return ref, true
		}
	}
	return replicaRef{}, false
}

// has reports whether the delta mentions ref at all.
func (d *delta) has(ref replicaRef) bool {
	if _, ok := d.end[ref]; ok {
		return true
	}
	_, ok := d.clouds[ref]
	return ok
}

// removeReplica drops everything of ref from the delta, in place (for the state's current delta).
func (d *delta) removeReplica(ref replicaRef) {
	delete(d.start, ref)
	delete(d.end, ref)
	delete(d.clouds, ref)
	for t := range d.values {
		if t.replica == ref {
			delete(d.values, t)
		}
	}
}

// withoutReplica returns the delta without anything of ref (Phoenix's remove_down_replicas on a delta), as
// a new delta, or d itself if it does not mention ref.
func (d *delta) withoutReplica(ref replicaRef) *delta {
	if !d.has(ref) {
		return d
	}
	out := d.clone()
	out.removeReplica(ref)
	return out
}

// clone returns a copy of the delta that shares its (immutable) values and nothing else.
func (d *delta) clone() *delta {
	out := &delta{
		start:  maps.Clone(d.start),
		end:    maps.Clone(d.end),
		clouds: make(dotClouds, len(d.clouds)),
		values: maps.Clone(d.values),
	}
	for ref, c := range d.clouds {
		out.clouds[ref] = maps.Clone(c)
	}
	return out
}

// extractDelta returns the part of d a remote replica can use (Phoenix's extract of a delta): range, clouds
// and values restricted to the replicas of remoteCtx, without anything of the remote itself.
//
// Phoenix drops only the remote's own values and keeps their dots (in production it even passes the node
// name, so nothing is dropped). Keeping the dots is wrong: the remote pushes transfer deltas into its
// generations, where a dot seen without its value reads as a remove, and merging it would drop the remote's
// live own values from its generations. A replica needs nothing about its own dots, so all of them go.
func extractDelta(d *delta, remoteRef replicaRef, remoteCtx causalContext) *delta {
	out := &delta{
		start:  filterReplicas(d.start, remoteCtx),
		end:    filterReplicas(d.end, remoteCtx),
		clouds: make(dotClouds),
		values: make(map[tag]*value),
	}
	delete(out.start, remoteRef)
	delete(out.end, remoteRef)
	for ref, c := range d.clouds {
		if _, ok := remoteCtx[ref]; ok && ref != remoteRef && len(c) > 0 {
			out.clouds[ref] = maps.Clone(c)
		}
	}
	for t, v := range d.values {
		if _, ok := remoteCtx[t.replica]; ok && t.replica != remoteRef {
			out.values[t] = v
		}
	}
	return out
}

// resetDelta starts a new, empty delta whose range starts and ends at the own clock.
func (s *state) resetDelta() {
	c := s.self.clock
	hint := 0 // the size of the delta before (up to maxDeltaHint): a burst's next delta is alike
	if s.delta != nil {
		hint = min(len(s.delta.values), maxDeltaHint)
	}
	s.deltaCloud = make(dotCloud, hint)
	s.delta = &delta{
		start:  causalContext{s.self.ref: c},
		end:    causalContext{s.self.ref: c},
		clouds: dotClouds{s.self.ref: s.deltaCloud},
		values: make(map[tag]*value, hint),
	}
}

// maxDeltaHint bounds the room a new delta is made with.
const maxDeltaHint = 4096

// hasDelta reports whether the current delta holds anything to gossip.
func (s *state) hasDelta() bool { return s.delta.hasDots() }

// deltaSize returns the size of the current delta.
func (s *state) deltaSize() int { return s.delta.size() }

// takeDelta returns the current delta, which becomes immutable, and starts a new one (Phoenix's
// presences.delta followed by reset_delta). The shard calls it on a heartbeat when hasDelta, broadcasts the
// delta and pushes it into its generations.
func (s *state) takeDelta() *delta {
	d := s.delta
	s.resetDelta()
	return d
}

// extract returns the state restricted to the replicas of remoteCtx, for a transfer to remoteRef (Phoenix's
// extract of a normal-mode State): their context and clouds, and the values they tagged, except the
// requester's own values, which it has (Phoenix passes the node name here, so its filter never fires).
// Down replicas' values are included.
func (s *state) extract(remoteRef replicaRef, remoteCtx causalContext) *extract {
	return s.extractAs(remoteRef, remoteCtx, false)
}

// extractForTransfer is extract for a transfer answer: with partsFrom values or more, they are in list,
// not values, for newExtractParts.
func (s *state) extractForTransfer(remoteRef replicaRef, remoteCtx causalContext) *extract {
	return s.extractAs(remoteRef, remoteCtx, true)
}

func (s *state) extractAs(remoteRef replicaRef, remoteCtx causalContext, forParts bool) *extract {
	e := &extract{
		context: make(causalContext, len(remoteCtx)),
		clouds:  make(dotClouds),
	}
	n := 0
	for ref := range remoteCtx {
		r := s.replicas[ref]
		if r == nil {
			continue
		}
		e.context[ref] = r.clock
		if len(r.cloud) > 0 {
			e.clouds[ref] = maps.Clone(r.cloud)
		}
		if ref != remoteRef {
			n += len(r.values)
			if r == s.self {
				n += s.ownCount
			}
		}
	}
	add := func(v *value) { e.values[v.tag] = v }
	if forParts && n >= partsFrom {
		e.list = make([]*value, 0, n)
		add = func(v *value) { e.list = append(e.list, v) }
	} else {
		e.values = make(map[tag]*value, n)
	}
	for ref := range e.context {
		switch r := s.replicas[ref]; {
		case ref == remoteRef:
		case r == s.self:
			for v := range s.ownValues() {
				add(v)
			}
		default:
			for _, v := range r.values {
				add(v)
			}
		}
	}
	return e
}
