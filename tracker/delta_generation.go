package tracker

// defaultDeltaSizes are Phoenix's default max_delta_sizes: the size caps of the delta generations.
var defaultDeltaSizes = []int{100, 1000, 10_000}

// deltaGenerations keeps a few merged deltas of growing size (Phoenix's DeltaGeneration), so that a replica
// that missed some heartbeats can be sent the recent changes instead of the full state. Generation i covers
// the most recent changes, up to about sizes[i] in delta size. Local and remote deltas both go in, so a
// replica can serve changes it learned from others. Like the state, it belongs to one shard goroutine.
type deltaGenerations struct {
	sizes []int
	gens  []*delta // empty until the first push, and again after reset
	// owned[i] reports that gens[i] belongs to slot i alone (no other slot, nor anything outside, holds
	// it), so that push may merge into it in place instead of copying it: a push then costs the size of
	// the delta pushed, not of the generations (copying a 10 000-entry generation at every eager delta
	// was most of Track's cost). A slot that takes a shared delta copies it at its next push.
	owned []bool
}

// newDeltaGenerations returns empty generations with the given size caps (nil or empty: defaultDeltaSizes).
// The caller validates the sizes (positive, ascending).
func newDeltaGenerations(sizes []int) *deltaGenerations {
	if len(sizes) == 0 {
		sizes = defaultDeltaSizes
	}
	return &deltaGenerations{sizes: append([]int(nil), sizes...)}
}

// push adds a delta (an own delta just taken from the state, or a remote one just merged into it) to every
// generation it is contiguous with (Phoenix's DeltaGeneration.push). Empty generations are first seeded with
// the state's current delta. For each generation, in order: if it merges with d and the result fits its size,
// it becomes the result; if the result is too large it becomes the previous (smaller) window instead; if it
// does not merge (not contiguous) it is kept. Anything of permdowned replicas is pruned from d first, so a
// late delta cannot bring them back into the generations (Phoenix #55).
func (g *deltaGenerations) push(s *state, d *delta) {
	if d == s.delta {
		d = d.clone() // the current delta is still changing; generations keep immutable deltas
	}
	for ref := range s.permdowned {
		d = d.withoutReplica(ref)
	}
	if len(g.gens) == 0 {
		seed := s.delta.clone()
		g.gens = make([]*delta, len(g.sizes))
		g.owned = make([]bool, len(g.sizes))
		for i := range g.gens {
			g.gens[i] = seed
		}
	}
	// prev is what the previous slot would give a slot that overflows: Phoenix's merge of the previous
	// generation with d, even when that overflowed the previous slot (then made only if needed: lazy).
	prev, overflowed := d, (*delta)(nil)
	dSize := d.size()
	for i, gen := range g.gens {
		if !contiguous(gen, d) {
			prev, overflowed = gen, nil
			continue
		}
		if fitsMerged(gen, d, dSize, g.sizes[i]) {
			if !g.owned[i] {
				gen = gen.clone()
				g.gens[i], g.owned[i] = gen, true
			}
			gen.mergeFrom(d)
			prev, overflowed = gen, nil
			continue
		}
		// Too large for this window: it takes the previous (smaller) window's, as in Phoenix.
		if overflowed != nil {
			if merged, err := mergeDeltas(overflowed, d); err == nil {
				prev = merged
			}
		}
		if i > 0 && prev == g.gens[i-1] {
			g.owned[i-1] = false // slots i-1 and i share it from now on
		}
		g.gens[i], g.owned[i] = prev, false
		overflowed = gen
	}
}

// contiguous reports whether d1 and d2 can be merged (mergeDeltas's condition).
func contiguous(d1, d2 *delta) bool {
	return dominatesOrEqual(d2.end, d1.start) && dominatesOrEqual(d1.end, d2.start)
}

// extract returns what to send a replica that asked for a transfer with its clocks (Phoenix's
// DeltaGeneration.extract): the smallest generation that, restricted to the remote's replicas, is not empty,
// starts where the remote has everything, and holds something the remote lacks, extracted for the remote as
// a delta; otherwise the full state extracted for it. Exactly one result is non-nil.
func (g *deltaGenerations) extract(s *state, remoteRef replicaRef, remoteCtx causalContext) (*delta, *extract) {
	if gen := g.covering(remoteCtx); gen != nil {
		return extractDelta(gen, remoteRef, remoteCtx), nil
	}
	return nil, s.extractForTransfer(remoteRef, remoteCtx)
}

// fitsMerged reports whether mergeDeltas(gen, d) would be at most limit in size, d's size given. The
// merge holds every value and dot of d and at most every one of gen besides (d.size() ≤ merged ≤
// gen.size() + d.size()), so only a merge between those bounds is counted: an eager delta of a few
// hundred Tracks is larger than the smallest generation and fits the largest without a count.
func fitsMerged(gen, d *delta, dSize, limit int) bool {
	switch {
	case dSize > limit:
		return false
	case gen.size()+dSize <= limit:
		return true
	}
	return gen.mergedSize(d) <= limit
}

// covering returns the generation extract answers a replica with clocks remoteCtx with, or nil when it
// answers with the full state.
func (g *deltaGenerations) covering(remoteCtx causalContext) *delta {
	for _, gen := range g.gens {
		start := filterReplicas(gen.start, remoteCtx)
		end := filterReplicas(gen.end, remoteCtx)
		if !dominatesOrEqual(start, end) && dominatesOrEqual(remoteCtx, start) && !dominates(remoteCtx, end) {
			return gen
		}
	}
	return nil
}

// removeDownReplica prunes a permdowned replica from every generation (Phoenix PR #60: stale generations
// brought "zombie" presences back).
func (g *deltaGenerations) removeDownReplica(ref replicaRef) {
	for i, gen := range g.gens {
		if out := gen.withoutReplica(ref); out != gen {
			g.gens[i], g.owned[i] = out, false // slots that shared gen now hold copies: treat them as shared
		}
	}
}

// reset empties the generations; the shard calls it after merging a full-state transfer, as Phoenix does.
func (g *deltaGenerations) reset() { g.gens, g.owned = nil, nil }
