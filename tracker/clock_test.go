package tracker

import (
	"slices"
	"testing"
)

var (
	refA, refB, refC = namedRef("a"), namedRef("b"), namedRef("c")
)

func TestDominates(t *testing.T) {
	tests := []struct {
		c1, c2       causalContext
		dom, domOrEq bool
		name         string
	}{
		{causalContext{}, causalContext{}, true, true, "both empty"},
		{causalContext{}, causalContext{refA: 1}, false, false, "empty c1"},
		{causalContext{refA: 1}, causalContext{}, true, true, "empty c2"},
		{causalContext{refA: 2}, causalContext{refA: 1}, true, true, "greater"},
		{causalContext{refA: 1}, causalContext{refA: 1}, true, true, "equal"},
		{causalContext{refA: 1}, causalContext{refA: 2}, false, false, "smaller"},
		{causalContext{refA: 2}, causalContext{refA: 1, refB: 1}, false, true, "fewer replicas: keys only in c2 are ignored by dominatesOrEqual"},
		{causalContext{refA: 2, refB: 0}, causalContext{refA: 1, refB: 1}, false, false, "concurrent"},
		{causalContext{refA: 2, refC: 5}, causalContext{refA: 1, refB: 1}, false, true, "same size, a replica missing in c1"},
		{causalContext{refA: 2, refB: 1, refC: 0}, causalContext{refA: 1, refB: 1}, true, true, "more replicas"},
	}
	for _, tt := range tests {
		if got := dominates(tt.c1, tt.c2); got != tt.dom {
			t.Errorf("%s: dominates(%v, %v) = %v", tt.name, tt.c1, tt.c2, got)
		}
		if got := dominatesOrEqual(tt.c1, tt.c2); got != tt.domOrEq {
			t.Errorf("%s: dominatesOrEqual(%v, %v) = %v", tt.name, tt.c1, tt.c2, got)
		}
	}
}

func TestBounds(t *testing.T) {
	c1 := causalContext{refA: 1, refB: 5}
	c2 := causalContext{refB: 3, refC: 2}
	if got := upperbound(c1, c2); ctxString(got) != ctxString(causalContext{refA: 1, refB: 5, refC: 2}) {
		t.Errorf("upperbound = %v", got)
	}
	if got := lowerbound(c1, c2); ctxString(got) != ctxString(causalContext{refA: 1, refB: 3, refC: 2}) {
		t.Errorf("lowerbound = %v", got)
	}
	if got := filterReplicas(c1, c2); ctxString(got) != ctxString(causalContext{refB: 5}) {
		t.Errorf("filterReplicas = %v", got)
	}
	if len(c1) != 2 || len(c2) != 2 || c1[refB] != 5 {
		t.Error("arguments modified")
	}
}

func clockOf(r replicaRef, c causalContext) clockEntry { return clockEntry{replica: r, context: c} }

func setReplicas(set []clockEntry) []string {
	var out []string
	for _, r := range clockReplicas(set) {
		out = append(out, r.Name)
	}
	slices.Sort(out)
	return out
}

func TestAppendClock(t *testing.T) {
	// Phoenix "requests for transfer collapses clocks": one dominant clock wins.
	var set []clockEntry
	set = appendClock(set, clockOf(refA, causalContext{refA: 1, refB: 1, refC: 1}))
	set = appendClock(set, clockOf(refB, causalContext{refA: 2, refB: 2, refC: 2}))
	set = appendClock(set, clockOf(refC, causalContext{refA: 1, refB: 2, refC: 1}))
	eqSlice(t, "dominant", setReplicas(set), []string{"b"})

	// Empty contexts are ignored.
	eqSlice(t, "empty", setReplicas(appendClock(nil, clockOf(refA, causalContext{}))), nil)

	// Concurrent clocks are all kept; a clock dominating some of them replaces those.
	set = nil
	set = appendClock(set, clockOf(refA, causalContext{refA: 2, refB: 0, refC: 0}))
	set = appendClock(set, clockOf(refB, causalContext{refA: 0, refB: 2, refC: 0}))
	eqSlice(t, "concurrent", setReplicas(set), []string{"a", "b"})
	set = appendClock(set, clockOf(refC, causalContext{refA: 3, refB: 0, refC: 1}))
	eqSlice(t, "replaces a", setReplicas(set), []string{"b", "c"})
	// A clock dominated by the upper bound of the set leaves it as it is.
	set = appendClock(set, clockOf(refA, causalContext{refA: 1, refB: 1, refC: 0}))
	eqSlice(t, "dominated", setReplicas(set), []string{"b", "c"})
	set = appendClock(set, clockOf(refA, causalContext{refA: 1, refB: 1, refC: 1}))
	eqSlice(t, "under the bound", setReplicas(set), []string{"b", "c"})
	// Own clock last: if it dominates everything, nobody is asked.
	set = appendClock(set, clockOf(refA, causalContext{refA: 9, refB: 9, refC: 9}))
	eqSlice(t, "own dominates", setReplicas(set), []string{"a"})
}
