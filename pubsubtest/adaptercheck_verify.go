package pubsubtest

import (
	"strings"
	"testing"
	"time"
)

// awaitStream waits until node has received every frame 1..n of stream (some perhaps more than once),
// or the delivery timeout passes. It returns how many distinct frames arrived and the first missing.
func (c *adapterCluster) awaitStream(node int, stream string, n int) (got, firstMissing int) {
	deadline := time.Now().Add(c.s.timeout)
	for {
		seen := make(map[int]bool, n)
		for _, q := range c.hosts[node].seqs(stream) {
			if q >= 1 && q <= n {
				seen[q] = true
			}
		}
		if len(seen) == n || time.Now().After(deadline) {
			for q := 1; q <= n; q++ {
				if !seen[q] {
					return len(seen), q
				}
			}
			return n, 0
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// expectStream checks that node received frames 1..n of stream, failing with rule if some did not
// arrive within the delivery timeout. It returns whether all arrived.
func (c *adapterCluster) expectStream(t testing.TB, rule sentence, node int, stream string, n int) bool {
	t.Helper()
	got, first := c.awaitStream(node, stream, n)
	if got < n {
		broke(t, rule, "node %d received %d of the %d frames of stream %s within %v (first missing: frame %d)",
			node, got, n, stream, c.s.timeout, first)
		return false
	}
	return true
}

// verifyStream checks what node has received of stream: each frame at most once, and, if ordered, in
// the order sent (for routers, within each route). Call it after the frames have arrived and the quiet
// period has passed, so that duplicates have had the time to arrive too.
func (c *adapterCluster) verifyStream(t testing.TB, node int, stream string, ordered bool) {
	t.Helper()
	seen := map[int]int{}
	highestOf := map[int]int{} // by route
	reported, dup := false, false
	for _, q := range c.hosts[node].seqs(stream) {
		seen[q]++
		if seen[q] == 2 && !dup {
			dup = true
			broke(t, ruleAtMostOnce, "node %d received frame %d of stream %s twice (or more), sent once", node, q, stream)
		}
		if seen[q] > 1 {
			continue
		}
		route := 0
		if strings.Contains(stream, ">*/") { // a broadcast: in order per route (direct frames: overall)
			route = c.routeOf(q)
		}
		if highest := highestOf[route]; ordered && q < highest && !reported {
			broke(t, ruleOrder, "node %d received frame %d of stream %s before frame %d", node, highest, stream, q)
			reported = true
		}
		highestOf[route] = max(highestOf[route], q)
	}
}

// expectNone checks that node received nothing of stream, failing with rule.
func (c *adapterCluster) expectNone(t testing.TB, rule sentence, node int, stream, what string) {
	t.Helper()
	if got := c.hosts[node].seqs(stream); len(got) > 0 {
		broke(t, rule, "node %d received %s (%d frames of stream %s)", node, what, len(got), stream)
	}
}

// settle waits the quiet period, after which frames that were going to arrive have arrived.
func (c *adapterCluster) settle() { time.Sleep(c.s.quiet) }

// others returns the indexes of the cluster's nodes other than node.
func (c *adapterCluster) others(node int) []int {
	var o []int
	for i := range c.adapters {
		if i != node {
			o = append(o, i)
		}
	}
	return o
}
