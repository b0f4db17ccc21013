package tracker

import "maps"

// causalContext maps each replica to the highest contiguous clock seen from it (Phoenix's context; 0 means
// known, nothing seen). It is also the shape of a delta's range bounds and of the clocks exchanged in
// heartbeats. Functions here never modify their arguments.
type causalContext map[replicaRef]uint64

// clockEntry is one replica's clock as sampled from a heartbeat: Phoenix's {replica_ref, context}.
type clockEntry struct {
	replica replicaRef
	context causalContext
}

// dominates reports whether c1 causally dominates c2 for all replicas: c1 has at least as many replicas and,
// for every replica of c2, a clock at least as high (missing clocks count as 0). Clock.dominates?.
func dominates(c1, c2 causalContext) bool {
	if len(c1) < len(c2) {
		return false
	}
	for r, c := range c2 {
		if c1[r] < c {
			return false
		}
	}
	return true
}

// dominatesOrEqual reports whether c1 dominates c2 on the replicas of c1 (replicas only in c2 are ignored):
// two empty contexts are equal, an empty c1 dominates nothing else. Clock.dominates_or_equal?, asymmetric on
// purpose: it is the contiguity test of delta ranges.
func dominatesOrEqual(c1, c2 causalContext) bool {
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

// upperbound returns the pointwise maximum of two contexts, over the union of their replicas.
func upperbound(c1, c2 causalContext) causalContext {
	out := make(causalContext, max(len(c1), len(c2)))
	maps.Copy(out, c1)
	for r, c := range c2 {
		if cur, ok := out[r]; !ok || c > cur {
			out[r] = c
		}
	}
	return out
}

// lowerbound returns the pointwise minimum of two contexts over the union of their replicas; a replica
// present in only one keeps its clock (Map.merge semantics, as in Phoenix).
func lowerbound(c1, c2 causalContext) causalContext {
	out := make(causalContext, max(len(c1), len(c2)))
	maps.Copy(out, c1)
	for r, c := range c2 {
		if cur, ok := out[r]; !ok || c < cur {
			out[r] = c
		}
	}
	return out
}

// filterReplicas returns c restricted to the replicas present in keep (Clock.filter_replicas).
func filterReplicas(c, keep causalContext) causalContext {
	out := make(causalContext, min(len(c), len(keep)))
	for r, clock := range c {
		if _, ok := keep[r]; ok {
			out[r] = clock
		}
	}
	return out
}

// appendClock adds a sampled clock to a clock set, keeping only the most advanced, mutually concurrent
// clocks (Clock.append_clock). Empty contexts are ignored; a clock dominating the upper bound of the set
// replaces it; a clock dominated by that upper bound leaves it unchanged; otherwise the entries it dominates
// are dropped and it is added unless a remaining entry dominates it. The shard appends every clock heard in
// a sampling window, its own last, and sends a transfer request to every replica left other than itself.
// The set passed in may be reused for the result.
func appendClock(set []clockEntry, e clockEntry) []clockEntry {
	if len(e.context) == 0 {
		return set
	}
	big := causalContext{}
	for _, x := range set {
		big = upperbound(big, x.context)
	}
	switch {
	case dominates(e.context, big):
		return append(set[:0], e)
	case dominates(big, e.context):
		return set
	}
	kept := set[:0]
	insert := false
	for _, x := range set {
		if dominates(e.context, x.context) {
			insert = true
			continue
		}
		kept = append(kept, x)
		insert = insert || !dominates(x.context, e.context)
	}
	for i := len(kept); i < len(set); i++ {
		set[i] = clockEntry{}
	}
	if insert {
		kept = append(kept, e)
	}
	return kept
}

// clockReplicas returns the replicas of a clock set (Clock.clockset_replicas).
func clockReplicas(set []clockEntry) []replicaRef {
	out := make([]replicaRef, len(set))
	for i, e := range set {
		out[i] = e.replica
	}
	return out
}
