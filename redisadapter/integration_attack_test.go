package redisadapter_test

import (
	"math"
	"os"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/internal/wire"
	"github.com/phxgo/pubsub/redisadapter"
)

// The attacks of docs/protocol.md's table, carried out as an attacker would: a plain Redis client
// captures frames off a PubSub's channels and publishes them again, doctored or not. On miniredis
// always, and on a real redis-server when PHXGO_REDIS_URL is set.

func attackURLs(t *testing.T) map[string]string {
	_, mini := miniURL(t)
	urls := map[string]string{"miniredis": mini}
	if real := os.Getenv("PHXGO_REDIS_URL"); real != "" { // no skip without it: miniredis runs anyway
		urls["redis-server"] = real
	}
	return urls
}

// capturer subscribes a plain client to a channel and hands back what it reads.
type capturer struct {
	frames chan string
	stop   func()
}

func capture(t *testing.T, url, channel string) *capturer {
	t.Helper()
	rdb := plainClient(t, url)
	sub := rdb.Subscribe(ctx, channel)
	if _, err := sub.Receive(ctx); err != nil { // the subscription's confirmation
		t.Fatal(err)
	}
	c := &capturer{frames: make(chan string, 100)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for msg := range sub.Channel() {
			select {
			case c.frames <- msg.Payload:
			default:
			}
		}
	}()
	c.stop = func() { sub.Close(); <-done }
	t.Cleanup(c.stop)
	return c
}

func (c *capturer) next(t *testing.T) string {
	t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-time.After(5 * time.Second):
		t.Fatal("nothing captured")
		return ""
	}
}

func TestAttacksOverRedis(t *testing.T) {
	for server, url := range attackURLs(t) {
		t.Run(server, func(t *testing.T) {
			t.Run("forged sequence does not silence a node", func(t *testing.T) { forgedSequence(t, url) })
			t.Run("replays of signed frames", func(t *testing.T) { replays(t, url) })
		})
	}
}

// One frame numbered 2^64−1 in b's stream, published by a raw client (no secret: anyone may): b's
// later broadcasts and tracker-style direct frames all still arrive.
func forgedSequence(t *testing.T, url string) {
	name := uniqueName(t)
	a, _ := startNode(t, name, redisadapter.Config{URL: url, NodeName: "a"}, pubsub.Config{})
	b, _ := startNode(t, name, redisadapter.Config{URL: url, NodeName: "b"}, pubsub.Config{})
	s := newSub(t, a)
	s.Subscribe("t")
	bcast := "phx:{" + name + "}:broadcast"
	c := capture(t, url, bcast)
	if err := b.Broadcast(ctx, "t", "1"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, s).Payload; got != "1" {
		t.Fatalf("received %v", got)
	}
	forged := []byte(c.next(t))
	wire.StampSeq(forged, math.MaxUint64)
	if err := plainClient(t, url).Publish(ctx, bcast, forged).Err(); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, s).Payload; got != "1" { // the forged copy: unsigned, nobody can tell
		t.Fatalf("received %v", got)
	}
	for _, p := range []string{"2", "3", "4"} {
		if err := b.Broadcast(ctx, "t", p); err != nil {
			t.Fatal(err)
		}
		if got := receive(t, s).Payload; got != p {
			t.Fatalf("after the forged frame: received %v, want %v", got, p)
		}
	}
	if st := a.Stats(); st.Rebased != 1 || st.Dropped() != 0 {
		t.Errorf("stats %+v, want one rebase and nothing dropped", st)
	}
}

// With a shared secret: a capture replayed on the same channel is a duplicate; on another PubSub that
// shares the secret it fails its signature; to a receiver that restarted after it was sent it is stale.
// Nothing replayed is delivered, and genuine traffic flows on.
func replays(t *testing.T, url string) {
	secrets := [][]byte{[]byte("0123456789abcdef0123456789abcdef")}
	name, other := uniqueName(t), uniqueName(t)
	cfg := pubsub.Config{Secrets: secrets, ClockSkew: time.Millisecond}
	a, _ := startNode(t, name, redisadapter.Config{URL: url, NodeName: "a"}, cfg)
	b, _ := startNode(t, name, redisadapter.Config{URL: url, NodeName: "b"}, cfg)
	o, _ := startNode(t, other, redisadapter.Config{URL: url, NodeName: "o"}, cfg)
	sa, so := newSub(t, a), newSub(t, o)
	sa.Subscribe("t")
	so.Subscribe("t")
	bcast := "phx:{" + name + "}:broadcast"
	c := capture(t, url, bcast)
	if err := b.Broadcast(ctx, "t", "genuine"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, sa).Payload; got != "genuine" {
		t.Fatalf("received %v", got)
	}
	captured := c.next(t)
	raw := plainClient(t, url)
	publish := func(channel string) {
		t.Helper()
		if err := raw.Publish(ctx, channel, captured).Err(); err != nil {
			t.Fatal(err)
		}
	}

	publish(bcast)
	publish("phx:{" + other + "}:broadcast")
	eventually(t, 5*time.Second, "the replays dropped", func() bool {
		return a.Stats().DroppedDuplicate == 1 && o.Stats().DroppedSignature == 1
	})

	// a restarts; the capture predates it.
	time.Sleep(10 * time.Millisecond)
	a.Close()
	a2, _ := startNode(t, name, redisadapter.Config{URL: url, NodeName: "a"}, cfg)
	s2 := newSub(t, a2)
	s2.Subscribe("t")
	publish(bcast)
	eventually(t, 5*time.Second, "the replay to the restarted node dropped", func() bool {
		return a2.Stats().DroppedStale == 1
	})
	if err := b.Broadcast(ctx, "t", "after"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, s2).Payload; got != "after" {
		t.Fatalf("received %v, want the genuine broadcast after the replays", got)
	}
	assertQuiet(t, so, 50*time.Millisecond)
	if st := a2.Stats(); st.Received != 1 || st.Dropped() != 1 {
		t.Errorf("restarted node: %+v", st)
	}
}
