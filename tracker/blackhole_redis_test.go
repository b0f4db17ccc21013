package tracker_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/internal/faultproxy"
	"github.com/phxgo/pubsub/redisadapter"
	"github.com/phxgo/pubsub/tracker"
)

// A real Redis black hole: node b reaches the redis-server through a fault proxy that, once opened, lets
// nothing through (go-redis cannot see it: the connections stay open). b's failure detection keeps its
// timing (it marks a down between DownPeriod and DownPeriod + BroadcastPeriod after a's last heartbeat,
// plus scheduling slack), Track returns at once throughout, and Close returns within 1 s. Before, sends
// ran on the shard's goroutine and waited out go-redis's timeouts: no peer was marked down for 7 ×
// DownPeriod, and Close took 14.5 s.
func TestRealRedisBlackholeKeepsTiming(t *testing.T) {
	raw := realRedisURL(t)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	p, err := faultproxy.New("127.0.0.1:0", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	name := uniqueName(t)
	cfg := tracker.TestConfig("presence", nil)
	cfg.DownPeriod = time.Second
	cfg.PermdownPeriod = 10 * time.Second
	psA := realRedisNode(t, raw, name, "a")
	a := newTracker(t, psA, cfg)
	adB, err := redisadapter.New(redisadapter.Config{URL: "redis://" + p.Addr() + u.Path, NodeName: "b", ProbeInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	psB, err := pubsub.New(context.Background(), pubsub.Config{Name: name, Adapter: adB})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { psB.Close() })
	b, err := tracker.New(psB, cfg)
	if err != nil {
		t.Fatal(err)
	}
	oa, ob := newOwner(t, psA), newOwner(t, psB)
	if _, err := a.Track(oa, "room", "x", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "b lists a's presence", func() bool { return len(b.List("room")) == 1 })

	p.Blackhole(true)
	opened := time.Now()
	var slowest time.Duration
	for len(b.List("room")) > 0 {
		if time.Since(opened) > 10*time.Second {
			t.Fatalf("a still up on b %v into the black hole", time.Since(opened))
		}
		start := time.Now()
		if _, err := b.Track(ob, "lobby", time.Now().String(), nil); err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, time.Since(start))
		time.Sleep(20 * time.Millisecond)
	}
	downAfter := time.Since(opened)
	// a's last heartbeat reached b at most one idle cadence (MaxSilentPeriods+1 periods) before the hole
	// opened; b's ticks come every BroadcastPeriod.
	if max := cfg.DownPeriod + cfg.BroadcastPeriod + 500*time.Millisecond; downAfter > max {
		t.Fatalf("b marked a down %v after the hole opened, want ≤ %v", downAfter, max)
	}
	if slowest > 50*time.Millisecond {
		t.Fatalf("a Track took %v in the black hole", slowest)
	}
	start := time.Now()
	b.Close()
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Close took %v in the black hole", took)
	}
	t.Logf("b marked a down %v after the hole opened; slowest Track %v; b: %+v", downAfter, slowest, b.Stats())
	p.Blackhole(false)
}
