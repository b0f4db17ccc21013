package redisadapter_test

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
)

// TestConcurrentBroadcastsArriveInNumberOrder: however many goroutines broadcast at once, a node's
// frames reach the wire in the order of their sequence numbers (the publisher seals each frame as it
// takes it, pubsub.FrameSealer), so a receiver sees no reordered frame and reports no gap. When frames
// were numbered before they were queued, a broadcaster descheduled in between was overtaken by the
// others: with 1,024 broadcasters on real Redis, about 1 % of frames arrived reordered and several
// overtook more than the receiver's replay window (1,024 frames), which reported thousands of false
// gaps (docs/benchmarks.md, "Issue 8 performance rows").
//
// On miniredis, and on a real redis-server when PHXGO_REDIS_URL is set; signed and unsigned, routed
// and not.
func TestConcurrentBroadcastsArriveInNumberOrder(t *testing.T) {
	urls := map[string]string{}
	_, urls["miniredis"] = miniURL(t)
	if testing.Short() {
		t.Log("short: miniredis only")
	} else if u := os.Getenv("PHXGO_REDIS_URL"); u != "" {
		urls["redis"] = u
	}
	for server, url := range urls {
		for _, signed := range []bool{false, true} {
			for _, routed := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/signed=%v/routed=%v", server, signed, routed), func(t *testing.T) {
					testBroadcastsInNumberOrder(t, url, signed, routed)
				})
			}
		}
	}
}

func testBroadcastsInNumberOrder(t *testing.T, url string, signed, routed bool) {
	const goroutines, each = 256, 40
	var pcfg pubsub.Config
	if signed {
		pcfg.Secrets = [][]byte{[]byte("thirty-two bytes of secret......")}
	}
	name := uniqueName(t)
	a, _ := startNode(t, name, redisadapter.Config{URL: url, NodeName: "a", RouteByTopic: routed}, pcfg)
	b, _ := startNode(t, name, redisadapter.Config{URL: url, NodeName: "b", RouteByTopic: routed}, pcfg)
	sub := newSub(t, b, pubsub.WithMailboxSize(goroutines*each))
	if err := sub.SubscribeContext(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				if err := a.Broadcast(ctx, "t", fmt.Sprintf("%d:%d", g, i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	next := make([]int, goroutines)
	for range goroutines * each {
		msg := receive(t, sub)
		var g, i int
		if _, err := fmt.Sscanf(msg.Payload.(string), "%d:%d", &g, &i); err != nil || i != next[g] {
			t.Fatalf("payload %v from goroutine %d: want #%d (%v)", msg.Payload, g, next[g], err)
		}
		next[g]++
	}
	assertQuiet(t, sub, 20*time.Millisecond)
	if st := b.Stats(); st.Reordered != 0 || st.Rebased != 0 || st.Gaps != 0 || st.GapsReported != 0 || st.Dropped() != 0 {
		t.Errorf("receiver: %d reordered, %d rebased, %d gaps (%d reported), %d dropped; want none (%+v)",
			st.Reordered, st.Rebased, st.Gaps, st.GapsReported, st.Dropped(), st)
	}
}
