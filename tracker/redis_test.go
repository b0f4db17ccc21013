package tracker_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
	"github.com/phxgo/pubsub/tracker"
)

// The tracker over Redis: miniredis for what it can play (a restart of the server), a real redis-server
// (PHXGO_REDIS_URL) for the real thing. These tests wait on real time, since the network is real; they
// wait for outcomes with deadlines, and assert what must never happen by recording every diff.

// leaveCounter is a Handler that counts leaves.
type leaveCounter struct {
	recorder
}

func (l *leaveCounter) leaves() []string {
	var out []string
	for _, d := range l.all() {
		for topic, td := range d {
			for _, p := range td.Leaves {
				out = append(out, topic+"/"+p.Key+"@"+p.Replica)
			}
		}
	}
	return out
}

// A Redis restart shorter than DownPeriod loses no presence: no node sees a leave, every node lists every
// presence once the adapters have reconnected, and changes made after the restart propagate (the trackers
// resynchronise after the gap their PubSubs report).
func TestRedisRestartLosesNoPresence(t *testing.T) {
	m := miniredis.RunT(t)
	cfg := tracker.TestConfig("presence", nil)
	cfg.DownPeriod = 10 * time.Second // comfortably longer than the restart and the reconnects
	cfg.PermdownPeriod = 30 * time.Second
	var trs []*tracker.Tracker
	var hs []*leaveCounter
	var owners []*pubsub.Subscriber
	for i := range 3 {
		ps := redisNode(t, m.Addr(), t.Name(), string(rune('a'+i)))
		h := &leaveCounter{}
		c := cfg
		c.Handler = h
		tr := newTracker(t, ps, c)
		o := newOwner(t, ps)
		for _, k := range []string{"1", "2"} {
			if _, err := tr.Track(o, "room", string(rune('a'+i))+k, nil); err != nil {
				t.Fatal(err)
			}
		}
		trs, hs, owners = append(trs, tr), append(hs, h), append(owners, o)
	}
	all := []string{"a1", "a2", "b1", "b2", "c1", "c2"}
	for _, tr := range trs {
		eventually(t, 5*time.Second, "every presence everywhere", func() bool { return slices.Equal(keys(tr.List("room")), all) })
	}

	m.Close()
	// b tracks while Redis is down: its delta cannot go out (or goes out after the reconnect); the peers
	// must get it either way.
	if _, err := trs[1].Track(owners[1], "room", "b3", nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // Redis is down for a second (the scenario, not a wait for an outcome)
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	// A change made right after the restart (its eager delta may be lost while the adapters reconnect)
	// reaches every node, and nothing was lost meanwhile.
	if _, err := trs[0].Track(owners[0], "room", "a3", nil); err != nil {
		t.Fatal(err)
	}
	for _, tr := range trs {
		eventually(t, 8*time.Second, "a change after the restart to propagate", func() bool {
			return slices.Equal(keys(tr.List("room")), []string{"a1", "a2", "a3", "b1", "b2", "b3", "c1", "c2"})
		})
	}
	trs[2].Untrack(owners[2], "room", "c1")
	want := []string{"a1", "a2", "a3", "b1", "b2", "b3", "c2"}
	for _, tr := range trs {
		eventually(t, 5*time.Second, "the untrack after the restart to propagate", func() bool { return slices.Equal(keys(tr.List("room")), want) })
	}
	t.Logf("send errors during the restart: a %d, b %d, c %d", trs[0].Stats().SendErrors, trs[1].Stats().SendErrors, trs[2].Stats().SendErrors)
	for i, h := range hs {
		if got := h.leaves(); !slices.Equal(got, []string{"room/c1@c"}) {
			t.Fatalf("node %c saw leaves %v across the restart", 'a'+i, got)
		}
	}
}

// realRedisURL returns PHXGO_REDIS_URL, skipping the test without it (failing it if PHXGO_REDIS_REQUIRED=1).
func realRedisURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("PHXGO_REDIS_URL")
	if url == "" {
		if os.Getenv("PHXGO_REDIS_REQUIRED") == "1" {
			t.Fatal("PHXGO_REDIS_URL is not set but PHXGO_REDIS_REQUIRED=1: real-Redis tests must run")
		}
		t.Skip("set PHXGO_REDIS_URL=redis://127.0.0.1:6379/0 to run the tracker over a real Redis")
	}
	return url
}

// uniqueName returns a PubSub name no other test run shares on a real Redis.
func uniqueName(t testing.TB) string {
	var b [6]byte
	rand.Read(b[:])
	return strings.ReplaceAll(t.Name(), "/", "_") + "-" + hex.EncodeToString(b[:])
}

func realRedisNode(t testing.TB, url, name, node string) *pubsub.PubSub {
	t.Helper()
	a, err := redisadapter.New(redisadapter.Config{URL: url, NodeName: node, ProbeInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: name, Adapter: a})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	return ps
}

// Joins, updates and leaves propagate across three nodes over a real Redis.
func TestRealRedisJoinsAndLeavesPropagate(t *testing.T) {
	url := realRedisURL(t)
	name := uniqueName(t)
	cfg := tracker.TestConfig("presence", nil)
	var trs []*tracker.Tracker
	var owners []*pubsub.Subscriber
	for i := range 3 {
		ps := realRedisNode(t, url, name, string(rune('a'+i)))
		trs = append(trs, newTracker(t, ps, cfg))
		owners = append(owners, newOwner(t, ps))
	}
	for i, tr := range trs {
		if _, err := tr.Track(owners[i], "room", "user:"+string(rune('a'+i)), map[string]any{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"user:a", "user:b", "user:c"}
	for _, tr := range trs {
		eventually(t, 5*time.Second, "every presence on every node", func() bool { return slices.Equal(keys(tr.List("room")), want) })
	}
	if _, err := trs[0].Update(owners[0], "room", "user:a", map[string]any{"n": 10}); err != nil {
		t.Fatal(err)
	}
	for _, tr := range trs {
		eventually(t, 5*time.Second, "the update", func() bool {
			p := tr.GetByKey("room", "user:a")
			return len(p) == 1 && p[0].Meta["n"] == int64(10)
		})
	}
	trs[1].Untrack(owners[1], "room", "user:b")
	owners[2].Close()
	for _, tr := range trs {
		eventually(t, 5*time.Second, "the leaves", func() bool { return slices.Equal(keys(tr.List("room")), []string{"user:a"}) })
	}
}
