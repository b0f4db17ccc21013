package phoenixpresence

// Delta generations (Phoenix.Tracker.DeltaGeneration): the recent deltas, merged into generations of
// growing sizes, so that a transfer_req from a replica that missed only a few changes is answered with
// a delta instead of the full state.

// DefaultMaxDeltaSizes are Phoenix's max_delta_sizes: the sizes (values and dots) of the generations.
var DefaultMaxDeltaSizes = []int{100, 1000, 10_000}

// deltaSize is State.delta_size: values and dots.
func deltaSize(d *wireState) int {
	n := len(d.Values)
	for _, c := range d.Clouds {
		n += len(c)
	}
	return n
}

// dominatesOrEqual is Clock.dominates_or_equal?: every clock of c1 is at least c2's (a missing one
// counts as 0); an empty c1 only when c2 is empty too.
func dominatesOrEqual(c1, c2 causal) bool {
	if len(c1) == 0 {
		return len(c2) == 0
	}
	for r, c := range c1 {
		if c < c2[r] {
			return false
		}
	}
	return true
}

// lowerbound is Clock.lowerbound: the smaller clock of the replicas of both, the others as they are.
func lowerbound(a, b causal) causal {
	out := a.clone()
	for k, v := range b {
		if w, ok := out[k]; !ok || v < w {
			out[k] = v
		}
	}
	return out
}

func (cs clouds) clone() clouds {
	out := make(clouds, len(cs))
	for r, c := range cs {
		out[r] = c.clone()
	}
	return out
}

func cloneDelta(d *wireState) *wireState {
	c := *d
	c.Context = d.Context.clone()
	c.Clouds = d.Clouds.clone()
	c.Values = make(map[tag]*value, len(d.Values))
	for t, v := range d.Values {
		c.Values[t] = v
	}
	c.RangeStart, c.RangeEnd = d.RangeStart.clone(), d.RangeEnd.clone()
	return &c
}

// mergeDeltas is State.merge_deltas, in place: remote (a delta whose range touches or overlaps
// local's) is merged into local, which the caller owns; false, and local unchanged, when they are not
// contiguous. It costs the size of remote, not of local.
func mergeDeltas(local, remote *wireState) bool {
	if !dominatesOrEqual(remote.RangeEnd, local.RangeStart) || !dominatesOrEqual(local.RangeEnd, remote.RangeStart) {
		return false
	}
	var added []*value // judged against local as it was
	for t, v := range remote.Values {
		if _, ok := local.Values[t]; !ok && !in(local.Context, local.Clouds, t) {
			added = append(added, v)
		}
	}
	removed := func(t tag) {
		if _, ok := remote.Values[t]; !ok && in(remote.Context, remote.Clouds, t) {
			delete(local.Values, t)
		}
	}
	if len(remote.Context) == 0 { // a delta: only its dots can remove anything
		for _, c := range remote.Clouds {
			for t := range c {
				if _, ok := local.Values[t]; ok {
					removed(t)
				}
			}
		}
	} else {
		for t := range local.Values {
			removed(t)
		}
	}
	for _, c := range remote.Clouds {
		for t := range c {
			local.Clouds.put(t)
		}
	}
	for _, v := range added {
		local.Values[v.Tag] = v
	}
	local.RangeStart = lowerbound(local.RangeStart, remote.RangeStart)
	local.RangeEnd = upperbound(local.RangeEnd, remote.RangeEnd)
	return true
}

// pushDelta is DeltaGeneration.push: delta (this replica's, just sent, or another's, just merged) is
// merged into each generation that stays within its size; a generation that would grow beyond it
// restarts from the next smaller one's merge.
func (s *state) pushDelta(delta *wireState) {
	if len(s.sizes) == 0 {
		return
	}
	if len(s.gens) == 0 {
		s.gens = make([]*wireState, len(s.sizes))
		for i := range s.gens {
			s.gens[i] = cloneDelta(s.delta)
		}
	}
	prev := delta
	for i, gen := range s.gens {
		if !mergeDeltas(gen, delta) {
			prev = gen
			continue
		}
		if deltaSize(gen) > s.sizes[i] {
			// Too big: the generation restarts from the smaller one's merge (a copy: each
			// generation is merged into in place), and that merge is what the next one starts from.
			s.gens[i] = cloneDelta(prev)
		}
		prev = gen
	}
}

// transfer is the answer to a transfer_req from a replica whose context is remote
// (DeltaGeneration.extract): the first generation that covers what it lacks, as a delta, or else the
// full state.
func (s *state) transfer(remote causal) *wireState {
	for _, gen := range s.gens {
		start, end := gen.RangeStart.take(remote), gen.RangeEnd.take(remote)
		if !dominatesOrEqual(start, end) && dominatesOrEqual(remote, start) && !dominates(remote, end) {
			return extractDelta(gen, remote)
		}
	}
	return s.extract(remote)
}

// extractDelta is State.extract in mode :delta: the generation restricted to the replicas of the
// remote context.
func extractDelta(gen *wireState, remote causal) *wireState {
	out := &wireState{Delta: true, Replica: gen.Replica, Context: causal{}, Clouds: gen.Clouds.take(remote),
		Values: map[tag]*value{}, RangeStart: gen.RangeStart.take(remote), RangeEnd: gen.RangeEnd.take(remote)}
	for t, v := range gen.Values {
		if _, ok := remote[t.Replica]; ok {
			out.Values[t] = v
		}
	}
	return out
}

// removeDownFromGenerations is DeltaGeneration.remove_down_replicas.
func (s *state) removeDownFromGenerations(r replicaRef) {
	for _, gen := range s.gens {
		delete(gen.RangeStart, r)
		delete(gen.RangeEnd, r)
		delete(gen.Clouds, r)
		for t := range gen.Values {
			if t.Replica == r {
				delete(gen.Values, t)
			}
		}
	}
}

// mergeGossip merges a heartbeat's delta or a transfer, and keeps the generations as Phoenix does: a
// delta is pushed, a full state resets them.
func (s *state) mergeGossip(r *wireState) (joins, leaves []*value) {
	joins, leaves = s.merge(r)
	if r.Delta {
		s.pushDelta(r)
	} else {
		s.gens = nil
	}
	return joins, leaves
}
