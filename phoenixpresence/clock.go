package phoenixpresence

// causal is a causal context, a replica's clock per replica (Phoenix.Tracker.Clock's context).
type causal map[replicaRef]int64

func (c causal) clone() causal {
	out := make(causal, len(c))
	for k, v := range c {
		out[k] = v
	}
	return out
}

// take returns c restricted to the replicas of keys.
func (c causal) take(keys causal) causal {
	out := make(causal, len(keys))
	for k := range keys {
		if v, ok := c[k]; ok {
			out[k] = v
		}
	}
	return out
}

// upperbound is Clock.upperbound: the larger clock of each replica of either.
func upperbound(a, b causal) causal {
	out := a.clone()
	for k, v := range b {
		if w, ok := out[k]; !ok || v > w {
			out[k] = v
		}
	}
	return out
}

// dominates is Clock.dominates?: c1 has at least every clock of c2 (a missing replica counts as 0),
// and at least as many replicas.
func dominates(c1, c2 causal) bool {
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

// clockOf is a replica's announced clock, {replica, context}, as heartbeats and transfer requests carry it.
type clockOf struct {
	Replica replicaRef
	Context causal
}

// appendClock is Clock.append_clock: adds c to the clockset, keeping only clocks no other dominates.
func appendClock(set []clockOf, c clockOf) []clockOf {
	if len(c.Context) == 0 {
		return set
	}
	big := causal{}
	for _, x := range set {
		big = upperbound(big, x.Context)
	}
	switch {
	case dominates(c.Context, big):
		return []clockOf{c}
	case dominates(big, c.Context):
		return set
	}
	var out []clockOf
	insert := false
	for _, x := range set {
		if dominates(c.Context, x.Context) {
			insert = true
			continue
		}
		out = append(out, x)
		insert = insert || !dominates(x.Context, c.Context)
	}
	if insert {
		out = append([]clockOf{c}, out...)
	}
	return out
}
