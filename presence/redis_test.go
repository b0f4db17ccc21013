package presence_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/presence"
	"github.com/phxgo/pubsub/redisadapter"
	"github.com/phxgo/pubsub/tracker"
)

// Over Redis (miniredis, and a real redis-server when PHXGO_REDIS_URL is set): each subscriber, on each
// of three nodes, receives each change exactly once. Real time: the test waits for the diffs with a
// deadline, then for a quiet period in which no copy may arrive.
func TestOverRedisEachChangeOnce(t *testing.T) {
	t.Run("miniredis", func(t *testing.T) {
		testOverRedis(t, "redis://"+miniredis.RunT(t).Addr()+"/0")
	})
	t.Run("redis", func(t *testing.T) {
		url := os.Getenv("PHXGO_REDIS_URL")
		if url == "" {
			if os.Getenv("PHXGO_REDIS_REQUIRED") == "1" {
				t.Fatal("PHXGO_REDIS_URL is not set but PHXGO_REDIS_REQUIRED=1: real-Redis tests must run")
			}
			t.Skip("set PHXGO_REDIS_URL=redis://127.0.0.1:6379/0 to run presence over a real Redis")
		}
		testOverRedis(t, url)
	})
}

func testOverRedis(t *testing.T, url string) {
	var b [4]byte
	rand.Read(b[:])
	name := "presence-test-" + hex.EncodeToString(b[:]) // a PubSub of its own on a shared Redis
	var nodes []*pubsub.PubSub
	var prs []*presence.Presence
	var subs []*pubsub.Subscriber
	for _, node := range []string{"a", "b", "c"} {
		a, err := redisadapter.New(redisadapter.Config{URL: url, NodeName: node})
		if err != nil {
			t.Fatal(err)
		}
		p, err := pubsub.New(context.Background(), pubsub.Config{Name: name, Adapter: a})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		// Heartbeats every 100 ms, but a node is down only after 10 s of silence: on a loaded machine a
		// heartbeat late by more than TestConfig's 400 ms would mark a node down and up again, which
		// every subscriber rightly hears as a leave and a join.
		cfg := tracker.TestConfig("presence", nil)
		cfg.DownPeriod, cfg.PermdownPeriod = 10*time.Second, 30*time.Second
		pr, err := presence.New(p, presence.Config{Tracker: cfg})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pr.Close() })
		s, err := p.NewSubscriber()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Subscribe(lobby); err != nil {
			t.Fatal(err)
		}
		nodes, prs, subs = append(nodes, p), append(prs, pr), append(subs, s)
	}
	owner := func(i int) *pubsub.Subscriber {
		s, err := nodes[i].NewSubscriber()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	alice, bob := owner(0), owner(1)
	if _, err := prs[0].Track(alice, lobby, "alice", map[string]any{"node": "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := prs[1].Track(bob, lobby, "bob", map[string]any{"node": "b"}); err != nil {
		t.Fatal(err)
	}
	expect := func(want ...string) {
		t.Helper()
		for i, s := range subs {
			var got []string
			receive := func(wait <-chan time.Time) bool {
				select {
				case m := <-s.C():
					got = append(got, summary(m.Payload.(presence.Diff)))
					return true
				case <-wait:
					return false
				}
			}
			deadline := time.After(10 * time.Second)
			for len(got) < len(want) && receive(deadline) {
			}
			quiet := time.After(500 * time.Millisecond) // all arrived: a copy would come now
			for receive(quiet) {
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("node %d's subscriber received %q, want %q", i, got, want)
			}
		}
	}
	expect("+alice@a", "+bob@b")
	alice.Close()
	expect("-alice@a")
	for i, p := range prs {
		if l := p.List(lobby); !slices.Equal(l.Keys(), []string{"bob"}) {
			t.Fatalf("node %d lists %v", i, l)
		}
	}
}
