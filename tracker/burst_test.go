package tracker

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phxgo/pubsub/pubsubtest"
)

// A burst of Tracks whose eager deltas outgrow MaxGossipSize (they go as clocks alone, and peers ask
// for what they lack) reaches a peer as fast as the transfers go: the peer asks again as soon as an
// answer has merged, and the node answers a request that shows its previous answer merged without
// waiting a BroadcastPeriod. Before, the peer waited for the next clock sample (ClockSamplePeriods
// periods: 3 s with the defaults, 150 s here), which made a burst of 10,000 Tracks reach a peer 3 s late
// in most runs of BenchmarkTrackerVisibleOnPeer10k instead of in 0.1–0.4 s.
func TestBurstOfOversizeDeltasReachesPeerAtOnce(t *testing.T) {
	const n = 5_000
	h := pubsubtest.NewCluster()
	// Production timings (BroadcastPeriod 1.5 s), a small MaxGossipSize so that every delta of the
	// burst is oversize, and a clock sample so rare that it cannot be what brings the presences.
	cfg := Config{Name: "presence", MaxGossipSize: 8 << 10, ClockSamplePeriods: 100}
	var joins atomic.Int64
	all := make(chan struct{})
	cfgB := cfg
	cfgB.Handler = HandlerFunc(func(d map[string]Diff) {
		for _, td := range d {
			if joins.Add(int64(len(td.Joins))) == n {
				close(all)
			}
		}
	})
	a := start(t, h, "a", cfg)
	b := start(t, h, "b", cfgB)
	warm := a.owner()
	if _, err := a.tr.Track(warm, "warm", "w", nil); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); len(b.tr.List("warm")) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("b never listed a's first presence")
		}
	}
	joins.Store(0)

	owner := a.owner()
	began := time.Now()
	for k := range n {
		if _, err := a.tr.Track(owner, fmt.Sprintf("room:%d", k%100), fmt.Sprintf("user%d", k), map[string]any{"status": "online"}); err != nil {
			t.Fatal(err)
		}
	}
	limit := 5 * time.Second // the transfers take a fraction of it; the old wait took 150 s
	select {
	case <-all:
		t.Logf("b saw all %d joins %v after the first Track; a dropped %v", n, time.Since(began).Round(time.Millisecond), a.tr.Stats().DroppedGossipByReason)
	case <-time.After(limit):
		t.Fatalf("b saw %d of %d joins within %v of the first Track; a dropped %v", joins.Load(), n, limit, a.tr.Stats().DroppedGossipByReason)
	}
}
