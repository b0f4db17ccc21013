package tracker

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"testing/synctest"

	"github.com/phxgo/pubsub/pubsubtest"
)

// A handler that never returns no longer grows memory without limit: past MaxPendingDiffs presences, the
// waiting diffs are coalesced into one net diff per topic, counted in Stats.CoalescedDiffs. When the
// handler returns, the diffs it gets, applied to what it had seen, give exactly what is listed.
func TestHandlerQueueIsBoundedAndCoalesced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := pubsubtest.NewCluster()
		release := make(chan struct{})
		seen := map[string]bool{} // key@replica → listed, as the handler's diffs tell it
		first := true
		cfg := TestConfig("presence", HandlerFunc(func(d map[string]Diff) {
			if first {
				first = false
				<-release
			}
			for _, td := range d {
				for _, p := range td.Leaves {
					if !seen[p.Key+"@"+p.Replica] {
						t.Errorf("a leave of %s, which the handler never saw join", p.Key)
					}
					delete(seen, p.Key+"@"+p.Replica)
				}
				for _, p := range td.Joins {
					if seen[p.Key+"@"+p.Replica] {
						t.Errorf("a join of %s, which the handler saw join already", p.Key)
					}
					seen[p.Key+"@"+p.Replica] = true
				}
			}
		}))
		cfg.MaxPendingDiffs = 1000
		released := false
		defer func() { // before the cleanups, which wait for the handler
			if !released {
				close(release)
			}
		}()
		a := start(t, h, "a", cfg)
		b := start(t, h, "b", TestConfig("presence", nil))
		oa, ob := a.owner(), b.owner()
		a.tr.Track(oa, "room", "blocker", nil) // the handler blocks on this diff
		synctest.Wait()
		maxQueued := 0
		for i := range 20_000 { // churn, local and remote: most of it cancels out
			key := fmt.Sprint("k", (i/2)%300)
			if i%2 == 0 {
				a.tr.Track(oa, "room", key, map[string]any{"i": i})
				b.tr.Track(ob, "lobby", key, nil)
			} else {
				a.tr.Untrack(oa, "room", key)
				b.tr.Untrack(ob, "lobby", key)
			}
			if i%100 == 0 {
				synctest.Wait()
				a.tr.diffs.mu.Lock()
				maxQueued = max(maxQueued, a.tr.diffs.count)
				a.tr.diffs.mu.Unlock()
			}
		}
		a.tr.Track(oa, "room", "last", nil)
		sleep(ms(300))
		if maxQueued > 2*cfg.MaxPendingDiffs+1000 {
			t.Fatalf("%d presences queued for a blocked handler", maxQueued)
		}
		if a.tr.Stats().CoalescedDiffs == 0 {
			t.Fatal("the queue was never coalesced")
		}
		close(release)
		released = true
		sleep(ms(100))
		want := map[string]bool{}
		for _, topic := range []string{"room", "lobby"} {
			for _, p := range a.tr.List(topic) {
				want[p.Key+"@"+p.Replica] = true
			}
		}
		// Keys are per topic here but unique across the two topics' replicas (room on a, lobby on b).
		if got, w := slices.Sorted(maps.Keys(seen)), slices.Sorted(maps.Keys(want)); !slices.Equal(got, w) {
			t.Fatalf("the handler's diffs add up to %v, a lists %v", got, w)
		}
		t.Logf("at most %d presences queued; coalesced %d times", maxQueued, a.tr.Stats().CoalescedDiffs)
	})
}

// coalesceDiffs keeps the net change of each presence: a join and a leave of the same presence cancel
// out, whatever diffs they are in; an update (leave of the old, join of the new) stays.
func TestCoalesceDiffs(t *testing.T) {
	p := func(key, ref string) *value {
		return &value{key: key, owner: "o", tag: tag{replica: replicaRef{Name: "a"}}, meta: packMeta(metaEntries{{MetaRef, ref}})}
	}
	type vs = []*value
	diffs := []diffBuilder{
		{"room": {joins: vs{p("x", "1"), p("y", "2")}}},
		{"room": {leaves: vs{p("x", "1")}, joins: vs{p("x", "3")}}}, // an update of x
		{"room": {leaves: vs{p("y", "2")}}, "lobby": {leaves: vs{p("z", "9")}}},
		{"lobby": {joins: vs{p("z", "9")}}},                         // z left and came back (a replica down and up)
		{"room": {joins: vs{p("w", "4")}, leaves: vs{p("w", "4")}}}, // up and removed at once
	}
	got := coalesceDiffs(diffs).render()
	if len(got) != 1 || len(got["room"].Joins) != 1 || got["room"].Joins[0].Ref != "3" || len(got["room"].Leaves) != 0 {
		t.Fatalf("net diff %+v, want room: join x (ref 3)", got)
	}
}
