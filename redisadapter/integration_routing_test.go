package redisadapter_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
)

// Routing by topic (Config.RouteByTopic), on miniredis always and on a real redis-server when
// PHXGO_REDIS_URL is set.

func routingURLs(t *testing.T) map[string]string {
	_, mini := miniURL(t)
	urls := map[string]string{"miniredis": mini}
	if real := os.Getenv("PHXGO_REDIS_URL"); real != "" {
		urls["redis-server"] = real
	}
	return urls
}

// routedNode starts a routed node named node of PubSub name.
func routedNode(t testing.TB, url, name, node string, linger time.Duration) (*pubsub.PubSub, *redisadapter.Adapter) {
	t.Helper()
	return startNode(t, name, redisadapter.Config{URL: url, NodeName: node, RouteByTopic: true, RouteLinger: linger}, pubsub.Config{})
}

func subscribeCtx(t testing.TB, s *pubsub.Subscriber, topic string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.SubscribeContext(c, topic); err != nil {
		t.Fatalf("SubscribeContext(%q): %v", topic, err)
	}
}

// A node receives the broadcasts of its topics' buckets only, reports no gap for the buckets it does
// not receive, and delivers every broadcast of its topics in order.
func TestRoutedReceivesOnlyItsBuckets(t *testing.T) {
	for kind, url := range routingURLs(t) {
		t.Run(kind, func(t *testing.T) {
			name := uniqueName(t)
			a, _ := routedNode(t, url, name, "a", time.Minute)
			b, ab := routedNode(t, url, name, "b", time.Minute)
			gaps := gapSubscriber(t, b)
			s := newSub(t, b, pubsub.WithMailboxSize(4096))
			subscribeCtx(t, s, "mine")
			const topics, rounds = 200, 5
			others := 0 // broadcasts on other topics that share "mine"'s bucket
			for r := range rounds {
				for i := range topics {
					topic := "other:" + strconv.Itoa(i)
					if ab.Route(topic) == ab.Route("mine") {
						others++
					}
					if err := a.Broadcast(ctx, topic, "x"); err != nil {
						t.Fatal(err)
					}
				}
				if err := a.Broadcast(ctx, "mine", strconv.Itoa(r)); err != nil {
					t.Fatal(err)
				}
			}
			for r := range rounds {
				if msg := receive(t, s); msg.Payload != strconv.Itoa(r) {
					t.Fatalf("message %d = %+v, want %q", r, msg, strconv.Itoa(r))
				}
			}
			time.Sleep(700 * time.Millisecond) // longer than the receivers' reorder grace: a false gap would show
			assertQuiet(t, gaps, 10*time.Millisecond)
			if got, want := ab.Stats().Received, uint64(rounds+others); got != want {
				t.Errorf("b received %d frames, want %d (its bucket's only)", got, want)
			}
			if n := ab.BucketTopics(ab.Route("mine")); n != 1 {
				t.Errorf("BucketTopics of mine's bucket = %d, want 1", n)
			}
			if ab.BucketTopics(-1) != 0 || ab.BucketTopics(redisadapter.DefaultBuckets) != 0 {
				t.Error("BucketTopics out of range is not 0")
			}
			if r := ab.Routing(); r.Held != 1 || r.Effective != 1 || r.Pending != 0 {
				t.Errorf("Routing = %+v, want one bucket held and effective", r)
			}
			if st := b.Stats(); st.Gaps != 0 || st.Dropped() != 0 {
				t.Errorf("b's stats: %+v", st)
			}
		})
	}
}

// A bucket left is unsubscribed after the linger; joined again, it starts each sender's stream afresh
// (no false gap for what was sent meanwhile).
func TestRoutedLingerAndRejoin(t *testing.T) {
	for kind, url := range routingURLs(t) {
		t.Run(kind, func(t *testing.T) {
			name := uniqueName(t)
			a, _ := routedNode(t, url, name, "a", 50*time.Millisecond)
			b, ab := routedNode(t, url, name, "b", 50*time.Millisecond)
			gaps := gapSubscriber(t, b)
			s := newSub(t, b)
			subscribeCtx(t, s, "room")
			if err := a.Broadcast(ctx, "room", "1"); err != nil {
				t.Fatal(err)
			}
			receive(t, s)
			if err := s.Unsubscribe("room"); err != nil {
				t.Fatal(err)
			}
			eventually(t, 5*time.Second, "the bucket unsubscribed after its linger", func() bool {
				return ab.Routing() == redisadapter.Routing{Buckets: redisadapter.DefaultBuckets} && ab.Stats().RouteUnsubscribes == 1
			})
			for i := range 10 { // sent while b does not receive the bucket
				if err := a.Broadcast(ctx, "room", "missed"+strconv.Itoa(i)); err != nil {
					t.Fatal(err)
				}
			}
			before := ab.Stats().Received
			subscribeCtx(t, s, "room")
			if err := a.Broadcast(ctx, "room", "2"); err != nil {
				t.Fatal(err)
			}
			if msg := receive(t, s); msg.Payload != "2" {
				t.Fatalf("after rejoining: %+v, want 2", msg)
			}
			// The adapter counts a frame once HandleFrame returned, which may be after s received it.
			eventually(t, 5*time.Second, "the frame after rejoining counted", func() bool { return ab.Stats().Received > before })
			time.Sleep(700 * time.Millisecond)
			if got := ab.Stats().Received - before; got != 1 {
				t.Errorf("received %d frames after rejoining, want 1 (none of those sent while b did not receive the bucket)", got)
			}
			assertQuiet(t, gaps, 10*time.Millisecond)
			if st := ab.Stats(); st.RouteSubscribes != 2 {
				t.Errorf("RouteSubscribes = %d, want 2", st.RouteSubscribes)
			}
		})
	}
}

// Churn within the linger costs Redis nothing: the bucket stays subscribed.
func TestRoutedChurnWithinLinger(t *testing.T) {
	_, url := miniURL(t)
	b, ab := routedNode(t, url, uniqueName(t), "b", time.Minute)
	s := newSub(t, b)
	for range 100 {
		subscribeCtx(t, s, "room")
		if err := s.Unsubscribe("room"); err != nil {
			t.Fatal(err)
		}
	}
	if st := ab.Stats(); st.RouteSubscribes != 1 || st.RouteUnsubscribes != 0 {
		t.Errorf("stats after churn: %+v, want one SUBSCRIBE", st)
	}
}

// Many topics subscribed at once go to Redis in few SUBSCRIBE commands, and all become effective.
func TestRoutedManyTopics(t *testing.T) {
	for kind, url := range routingURLs(t) {
		t.Run(kind, func(t *testing.T) {
			name := uniqueName(t)
			a, _ := routedNode(t, url, name, "a", time.Minute)
			b, ab := routedNode(t, url, name, "b", time.Minute)
			s := newSub(t, b, pubsub.WithMailboxSize(4096))
			const n = 2000
			for i := 1; i < n; i++ {
				if err := s.Subscribe("t" + strconv.Itoa(i)); err != nil {
					t.Fatal(err)
				}
			}
			subscribeCtx(t, s, "t0")
			eventually(t, 10*time.Second, "every bucket effective", func() bool {
				r := ab.Routing()
				return r.Held > 0 && r.Effective == r.Held && r.Pending == 0
			})
			for i := range n {
				if err := a.Broadcast(ctx, "t"+strconv.Itoa(i), i); err != nil {
					t.Fatal(err)
				}
			}
			for i := range n {
				msg := receive(t, s)
				if msg.Topic != "t"+strconv.Itoa(i) {
					t.Fatalf("message %d on %q", i, msg.Topic)
				}
			}
		})
	}
}

// A routed frame published on another bucket's channel is dropped and counted.
func TestRoutedWrongBucketDropped(t *testing.T) {
	for kind, url := range routingURLs(t) {
		t.Run(kind, func(t *testing.T) {
			name := uniqueName(t)
			a, aa := routedNode(t, url, name, "a", time.Minute)
			b, ab := routedNode(t, url, name, "b", time.Minute)
			s := newSub(t, b)
			subscribeCtx(t, s, "room")
			other := ""
			for i := 0; other == ""; i++ {
				if topic := "x" + strconv.Itoa(i); ab.Route(topic) != ab.Route("room") {
					other = topic
				}
			}
			// Capture a frame on other's bucket, and publish it again on room's.
			cap := capture(t, url, bucketChannel(name, aa.Route(other)))
			if err := a.Broadcast(ctx, other, "stray"); err != nil {
				t.Fatal(err)
			}
			frame := cap.next(t)
			if err := plainClient(t, url).Publish(ctx, bucketChannel(name, ab.Route("room")), frame).Err(); err != nil {
				t.Fatal(err)
			}
			eventually(t, 5*time.Second, "the misrouted frame counted", func() bool { return b.Stats().DroppedMisrouted == 1 })
			assertQuiet(t, s, 50*time.Millisecond)
			if st := ab.Stats(); st.Rejected != 1 {
				t.Errorf("adapter stats: %+v, want one rejected", st)
			}
		})
	}
}

// bucketChannel is the channel of bucket for PubSub name, with the default prefix (docs/protocol.md).
func bucketChannel(name string, bucket int) string {
	return fmt.Sprintf("phx:{%s}:b:%x", name, bucket)
}

// After its subscription is killed, a node subscribes its buckets again on the new connection, reports
// the gap, and delivery resumes; SubscribeContext waits for the new confirmation.
func TestRoutedResubscribesBuckets(t *testing.T) {
	srv := startRedis(t) // private: CLIENT KILL TYPE pubsub would hit every test on a shared server
	name := uniqueName(t)
	a, _ := routedNode(t, srv.URL(), name, "a", time.Minute)
	b, ab := routedNode(t, srv.URL(), name, "b", time.Minute)
	gaps := gapSubscriber(t, b)
	s := newSub(t, b, pubsub.WithMailboxSize(1024))
	subscribeCtx(t, s, "room")
	if _, err := plainClient(t, srv.URL()).ClientKillByFilter(ctx, "TYPE", "pubsub").Result(); err != nil {
		t.Fatal(err)
	}
	g := expectGap(t, gaps, "b", 5*time.Second)
	if g.Scope != nil || !g.Affects("room") {
		t.Errorf("reconnect gap %+v: want unscoped", g)
	}
	deliveryResumes(t, 5*time.Second, "room after the reconnect", s, func(p string) error { return a.Broadcast(ctx, "room", p) })
	subscribeCtx(t, s, "room") // effective again: returns at once
	if st := ab.Stats(); st.RouteSubscribes < 2 {
		t.Errorf("RouteSubscribes = %d, want the bucket subscribed again", st.RouteSubscribes)
	}
}

// SubscribeContext returns ctx's error when the bucket cannot be confirmed, keeping the subscription.
func TestSubscribeContextCanceled(t *testing.T) {
	_, url := miniURL(t)
	b, _ := routedNode(t, url, uniqueName(t), "b", time.Minute)
	s := newSub(t, b)
	c, cancel := context.WithCancel(ctx)
	cancel()
	err := s.SubscribeContext(c, "room")
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("SubscribeContext with a canceled context: %v", err)
	}
	subscribeCtx(t, s, "room") // the subscription stayed; now confirmed
}

// A client the adapter cannot subscribe with itself (here, one with an OnConnect) falls back to
// go-redis's subscription: buckets are subscribed, confirmed and left through it too.
func TestRoutedOnGoRedisSubscription(t *testing.T) {
	_, url := miniURL(t)
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	opt.OnConnect = func(context.Context, *redis.Conn) error { return nil }
	client := redis.NewClient(opt)
	t.Cleanup(func() { client.Close() })
	name := uniqueName(t)
	a, _ := routedNode(t, url, name, "a", time.Minute)
	b, ab := startNode(t, name, redisadapter.Config{Client: client, NodeName: "b", RouteByTopic: true, RouteLinger: 20 * time.Millisecond}, pubsub.Config{})
	s := newSub(t, b)
	subscribeCtx(t, s, "room")
	if err := a.Broadcast(ctx, "room", "hi"); err != nil {
		t.Fatal(err)
	}
	if msg := receive(t, s); msg.Payload != "hi" {
		t.Fatalf("got %+v", msg)
	}
	if err := s.Unsubscribe("room"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the bucket left", func() bool {
		return ab.Routing().Held == 0 && ab.Routing().Pending == 0 && ab.Stats().RouteUnsubscribes == 1
	})
}
