package redisadapter_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
)

// A node whose receive path stalls (here: a dispatcher that blocks, which the Dispatcher contract
// forbids, standing in for a stalled process) falls behind until Redis disconnects it at its pub/sub
// output-buffer limit. Once the stall ends, the node notices, resubscribes, reports the gap, and
// delivers new messages.
func TestSlowSubscriberCutByRedis(t *testing.T) {
	srv := startRedis(t, "--client-output-buffer-limit", "pubsub 1mb 512kb 5")
	name := uniqueName(t)

	stalled, release := make(chan struct{}), make(chan struct{})
	var stallOnce sync.Once
	stall := pubsub.DispatcherFunc(func(entries []pubsub.Entry, from *pubsub.Subscriber, msg pubsub.Message) {
		stallOnce.Do(func() {
			close(stalled)
			<-release // the first remote message blocks b's read loop until the test says so
		})
		pubsub.DefaultDispatcher().Dispatch(entries, from, msg)
	})
	a, _ := startNode(t, name, redisadapter.Config{URL: srv.URL(), NodeName: "a"},
		pubsub.Config{Dispatchers: map[string]pubsub.Dispatcher{"stall": pubsub.DefaultDispatcher()}})
	// b's probe interval is long, so that what cuts b is Redis, not b's own probe.
	b, ab := startNode(t, name, redisadapter.Config{URL: srv.URL(), NodeName: "b", ProbeInterval: time.Minute},
		pubsub.Config{Dispatchers: map[string]pubsub.Dispatcher{"stall": stall}})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the nodes close (cleanups run last-registered first)
	gaps := gapSubscriber(t, b)
	sb := newSub(t, b, pubsub.WithMailboxSize(1<<14))
	sb.Subscribe("big")

	// 16 KiB messages until Redis has cut b: the kernel's socket buffers take a few MiB first, then
	// b's output buffer on the server passes the 1 MiB hard limit.
	rdb := plainClient(t, srv.URL())
	bChannel := "phx:{" + name + "}:node:b"
	payload := strings.Repeat("x", 16<<10)
	cut := false
	for i := 0; i < 4000 && !cut; i++ {
		if err := a.Broadcast(ctx, "big", payload, pubsub.WithDispatcher("stall")); err != nil {
			t.Fatalf("broadcast %d: %v", i, err)
		}
		if i == 0 {
			select {
			case <-stalled:
			case <-time.After(5 * time.Second):
				t.Fatal("b's dispatcher was never called")
			}
		}
		if i%50 == 49 {
			subs, err := rdb.PubSubNumSub(ctx, bChannel).Result()
			if err != nil {
				t.Fatal(err)
			}
			cut = subs[bChannel] == 0
		}
	}
	if !cut {
		t.Fatal("Redis did not disconnect the stalled subscriber after 4000 × 16 KiB")
	}
	if log := srv.Log(); !strings.Contains(log, "output buffer limits") {
		t.Fatalf("b's subscription is gone, but Redis did not log an output-buffer cut:\n%s", log)
	}

	unblock()
	expectGap(t, gaps, "b", 10*time.Second)
	if st := ab.Stats(); st.Reconnects == 0 {
		t.Errorf("b's stats = %+v, want a reconnect", st)
	}
	deliveryResumes(t, 10*time.Second, "a → b after the cut", sb, func(p string) error {
		return a.Broadcast(ctx, "big", p, pubsub.WithDispatcher("stall"))
	})
	t.Logf("b: %+v; b's mailbox dropped %d", ab.Stats(), sb.Dropped())
}
