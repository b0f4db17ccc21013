package redisadapter_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
)

// PubSubs with different names on one real Redis, with the same node names and the same topics, never
// see each other's traffic: two that talk each get exactly their own messages, and a third that stays
// silent receives nothing, its counters staying at zero.
func TestNamesDoNotCrosstalkRealRedis(t *testing.T) {
	url := realRedisURL(t)
	type app struct {
		tag    string
		a, b   *pubsub.PubSub
		aa, ab *redisadapter.Adapter
		sa, sb *pubsub.Subscriber
	}
	start := func(tag string) *app {
		x := &app{tag: tag}
		name := uniqueName(t)
		x.a, x.aa = startNode(t, name, redisadapter.Config{URL: url, NodeName: "a"}, pubsub.Config{})
		x.b, x.ab = startNode(t, name, redisadapter.Config{URL: url, NodeName: "b"}, pubsub.Config{})
		x.sa, x.sb = newSub(t, x.a), newSub(t, x.b)
		for _, s := range []*pubsub.Subscriber{x.sa, x.sb} {
			s.Subscribe("t")
			s.Subscribe(pubsub.GapTopic)
		}
		return x
	}
	talkers := []*app{start("1"), start("2")}
	silent := start("3")

	// Each talking app's nodes send to each other, both ways, both kinds, on the same topic.
	for _, x := range talkers {
		for _, send := range []func() error{
			func() error { return x.a.Broadcast(ctx, "t", x.tag+": a to all") },
			func() error { return x.b.Broadcast(ctx, "t", x.tag+": b to all") },
			func() error { return x.a.DirectBroadcast(ctx, "b", "t", x.tag+": a to b") },
			func() error { return x.b.DirectBroadcast(ctx, "a", "t", x.tag+": b to a") },
		} {
			if err := send(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, x := range talkers {
		for s, want := range map[*pubsub.Subscriber][]string{
			x.sa: {x.tag + ": a to all", x.tag + ": b to a", x.tag + ": b to all"},
			x.sb: {x.tag + ": a to all", x.tag + ": a to b", x.tag + ": b to all"},
		} {
			var got []string
			for range want {
				got = append(got, fmt.Sprint(receive(t, s).Payload))
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("app %s received %q, want %q", x.tag, got, want)
			}
		}
	}
	// Let a few probes go by too: every app has a node "a" and a node "b", each probing its own channel.
	time.Sleep(1500 * time.Millisecond)
	for _, x := range append(talkers, silent) {
		assertQuiet(t, x.sa, 10*time.Millisecond)
		assertQuiet(t, x.sb, 10*time.Millisecond)
		for node, ps := range map[string]*pubsub.PubSub{"a": x.a, "b": x.b} {
			ast := map[string]*redisadapter.Adapter{"a": x.aa, "b": x.ab}[node].Stats()
			st := ps.Stats()
			received := uint64(2) // the other node's broadcast and its direct broadcast
			if x == silent {
				received = 0
			}
			if ast.Received != received || ast.Dropped() != 0 || ast.DuplicateNodes != 0 || ast.Reconnects != 0 ||
				st.Received != received || st.Dropped() != 0 || st.GapsReported != 0 || st.DuplicateNodes != 0 {
				t.Errorf("app %s, node %s: %+v, adapter's %+v; want %d received and nothing else", x.tag, node, st, ast, received)
			}
		}
	}
}
