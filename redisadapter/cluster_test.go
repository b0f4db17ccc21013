package redisadapter_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
)

// A ClusterClient over three miniredis servers, each told (by ClusterOptions.ClusterSlots) that it owns a
// third of the slots. miniredis servers do not forward PUBLISH to each other, so a frame reaches a
// subscriber only if the ClusterClient sent it to the server that owns the channels' slot, where the
// subscriptions are: these tests fail if go-redis stops routing the adapter's PUBLISH commands by their
// channel, the way they failed before the adapter asked it to (2 frames in 3 went elsewhere).

// fakeCluster starts three miniredis servers and returns them and a ClusterClient over them, closed at
// cleanup.
func fakeCluster(t testing.TB) ([]*miniredis.Miniredis, *redis.ClusterClient) {
	t.Helper()
	var servers []*miniredis.Miniredis
	var slots []redis.ClusterSlot
	for i := range 3 {
		m := miniredis.RunT(t)
		servers = append(servers, m)
		slots = append(slots, redis.ClusterSlot{
			Start: i * 16384 / 3, End: (i+1)*16384/3 - 1,
			Nodes: []redis.ClusterNode{{ID: fmt.Sprint(i), Addr: m.Addr()}},
		})
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{
		ClusterSlots: func(context.Context) ([]redis.ClusterSlot, error) { return slots, nil },
		MaxRetries:   -1,
	})
	t.Cleanup(func() { c.Close() })
	return servers, c
}

// Every frame of a node, broadcast or direct, single or pipelined, reaches the other node, in order.
func TestFakeClusterRoutesEveryPublishBySlot(t *testing.T) {
	servers, client := fakeCluster(t)
	name := uniqueName(t)
	a, aa := startNode(t, name, redisadapter.Config{Client: client, NodeName: "a"}, pubsub.Config{})
	b, ab := startNode(t, name, redisadapter.Config{Client: client, NodeName: "b"}, pubsub.Config{})
	sb := newSub(t, b, pubsub.WithMailboxSize(4096))
	if err := sb.Subscribe("t"); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	// Concurrent broadcasters fill pipelines; a lone one sends single commands.
	errs := make(chan error, 4)
	for w := range 4 {
		go func() {
			var err error
			for i := w; i < n && err == nil; i += 4 {
				err = a.Broadcast(ctx, "t", strconv.Itoa(i))
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// Each broadcaster's frames arrive in its order (i%4 names the broadcaster), and none twice.
	last := []int{-4, -3, -2, -1}
	for range n {
		i, err := strconv.Atoi(receive(t, sb).Payload.(string))
		if err != nil || i != last[i%4]+4 {
			t.Fatalf("broadcaster %d: got %d (%v) after %d", i%4, i, err, last[i%4])
		}
		last[i%4] = i
	}
	for i := range 100 {
		if err := a.DirectBroadcast(ctx, "b", "t", fmt.Sprint("d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 100 {
		if p := receive(t, sb).Payload; p != fmt.Sprint("d", i) {
			t.Fatalf("direct broadcast %d: got %v", i, p)
		}
	}
	eventually(t, 2*time.Second, "b to count every frame, none dropped", func() bool {
		s := ab.Stats()
		return s.Received == n+100 && s.Dropped() == 0 && b.Stats().GapsReported == 0
	})
	if s := aa.Stats(); s.PublishErrors != 0 {
		t.Errorf("a: %d publish errors", s.PublishErrors)
	}
	// Both nodes subscribed on one server, the owner of the slot.
	owners := 0
	for _, m := range servers {
		if len(m.PubSubChannels("")) > 0 {
			owners++
		}
	}
	if owners != 1 {
		t.Errorf("the PubSub's channels are subscribed on %d servers, want 1", owners)
	}
}

// Start's probe goes to the slot owner too: a node whose probe went elsewhere would not see it, and
// would reconnect for ever (nothing else arrives on an idle node's channel).
func TestFakeClusterIdleNodeKeepsItsSubscription(t *testing.T) {
	_, client := fakeCluster(t)
	// 100 ms probes, so that only a stall of over 150 ms (not a busy CI machine) looks like a dead
	// subscription; without slot routing the probes never come back and this fails at the first one.
	_, a := startNode(t, uniqueName(t), redisadapter.Config{Client: client, NodeName: "a", ProbeInterval: 100 * time.Millisecond}, pubsub.Config{})
	time.Sleep(1500 * time.Millisecond) // 15 probe intervals of silence but for the probes
	if s := a.Stats(); s.ProbeFailures != 0 || s.Reconnects != 0 || s.PublishErrors != 0 {
		t.Fatalf("an idle node on a cluster: %+v", s)
	}
}
