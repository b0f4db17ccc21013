package pubsub_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/phxgo/pubsub"
)

// router is a pubsub.TopicRouter for tests: 16 routes, a topic's route is its first byte modulo 16
// ("gossip:" topics are not routed). It records the frames broadcast, with their routes, and the
// interest calls; AwaitTopic waits until the test releases the topic.
type router struct {
	name string
	host pubsub.RoutedHost

	mu       sync.Mutex
	frames   []routedFrame
	interest map[string]int // +1 per first subscription, -1 per last
	calls    int
	ready    map[string]chan struct{}
}

type routedFrame struct {
	route int
	frame string
}

func newRouter(name string) *router {
	return &router{name: name, interest: make(map[string]int), ready: make(map[string]chan struct{})}
}

func (r *router) Start(_ context.Context, h pubsub.Host) error {
	r.host = h.(pubsub.RoutedHost)
	return nil
}
func (r *router) NodeName() string { return r.name }
func (r *router) Broadcast(_ context.Context, f pubsub.Frame) error {
	r.mu.Lock()
	r.frames = append(r.frames, routedFrame{r.Route(f.Topic), string(f.Bytes)})
	r.mu.Unlock()
	return nil
}
func (r *router) DirectBroadcast(context.Context, string, pubsub.Frame) error { return nil }
func (r *router) Close() error                                                { return nil }
func (r *router) Routes() int                                                 { return 16 }
func (r *router) Route(topic string) int {
	if len(topic) >= 7 && topic[:7] == "gossip:" || topic == pubsub.GapTopic {
		return -1
	}
	return int(topic[0]) % 16
}
func (r *router) Interest(topic string, interested bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if interested {
		r.interest[topic]++
	} else {
		r.interest[topic]--
	}
}
func (r *router) AwaitTopic(ctx context.Context, topic string) error {
	r.mu.Lock()
	ch := r.ready[topic]
	if ch == nil {
		ch = make(chan struct{})
		r.ready[topic] = ch
	}
	r.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *router) release(topic string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ready[topic] == nil {
		r.ready[topic] = make(chan struct{})
	}
	close(r.ready[topic])
}

func (r *router) take() []routedFrame {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.frames
	r.frames = nil
	return f
}

var _ pubsub.TopicRouter = (*router)(nil)

// routedPair starts a sender and a receiver PubSub, each on a router. The test carries the sender's
// frames to the receiver itself.
func routedPair(t *testing.T) (*pubsub.PubSub, *router, *pubsub.PubSub, *router) {
	rs, rr := newRouter("s"), newRouter("r")
	return newPS(t, pubsub.Config{Adapter: rs}), rs, newPS(t, pubsub.Config{Adapter: rr}), rr
}

// A receiver that gets only some routes reports no gap for the others, and delivers what it gets.
func TestRoutedStreamsNoFalseGap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sender, rs, recv, rr := routedPair(t)
		gaps := subscribe(t, recv, pubsub.GapTopic)
		a := subscribe(t, recv, "a") // route 1 ('a' = 97)
		for i := range 30 {
			for _, topic := range []string{"a", "b", "c", "gossip:x"} {
				if err := sender.Broadcast(ctx, topic, strconv.Itoa(i)); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, f := range rs.take() {
			if f.route == rr.Route("a") || f.route == -1 {
				if err := rr.host.HandleRoutedFrame(f.route, f.frame); err != nil {
					t.Fatal(err)
				}
			}
		}
		for i := range 30 {
			if msg := receive(t, a); msg.Payload != strconv.Itoa(i) {
				t.Fatalf("message %d: %+v", i, msg)
			}
		}
		time.Sleep(time.Second) // past the reorder grace: the sweeper ran
		synctest.Wait()
		assertEmpty(t, gaps)
		if st := recv.Stats(); st.Gaps != 0 || st.Received != 60 {
			t.Errorf("stats %+v: want 60 received, no gap", st)
		}
	})
}

// A frame lost on one route is reported as a gap scoped to that route's topics.
func TestRoutedLossIsScoped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sender, rs, recv, rr := routedPair(t)
		gaps := subscribe(t, recv, pubsub.GapTopic)
		for i := range 3 {
			sender.Broadcast(ctx, "a", i)
			sender.Broadcast(ctx, "b", i)
		}
		frames := rs.take()
		for i, f := range frames {
			if i == 2 { // the second frame on "a"
				continue
			}
			rr.host.HandleRoutedFrame(f.route, f.frame)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		g := receive(t, gaps).Payload.(pubsub.Gap)
		if g.Scope == nil || !g.Affects("a") || !g.Affects("q") || g.Affects("b") || g.Affects("gossip:x") {
			t.Errorf("gap %+v (scope %v): want the route of \"a\" only", g, g.Scope)
		}
		if g.Scope.String() != "route 1" {
			t.Errorf("scope %q", g.Scope.String())
		}
		assertEmpty(t, gaps)
		if (pubsub.Gap{}).Affects("anything") != true {
			t.Error("an unscoped gap affects every topic")
		}
	})
}

// A route forgotten (the node left it) starts each sender's stream afresh: what was sent meanwhile is
// not a gap.
func TestForgetRoute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sender, rs, recv, rr := routedPair(t)
		gaps := subscribe(t, recv, pubsub.GapTopic)
		for i := range 6 {
			sender.Broadcast(ctx, "a", i)
		}
		frames := rs.take()
		rr.host.HandleRoutedFrame(frames[0].route, frames[0].frame)
		rr.host.ForgetRoute(rr.Route("a"))
		rr.host.HandleRoutedFrame(frames[5].route, frames[5].frame)
		time.Sleep(time.Second)
		synctest.Wait()
		assertEmpty(t, gaps)
		rr.host.ForgetRoute(-1) // every route
		sender.Broadcast(ctx, "a", 7)
		sender.Broadcast(ctx, "a", 8)
		f := rs.take()
		rr.host.HandleRoutedFrame(f[1].route, f[1].frame)
		time.Sleep(time.Second)
		synctest.Wait()
		assertEmpty(t, gaps)
	})
}

// A broadcast that arrives on another route than its topic's is dropped and counted.
func TestMisroutedFrameDropped(t *testing.T) {
	sender, rs, recv, rr := routedPair(t)
	s := subscribe(t, recv, "a")
	sender.Broadcast(ctx, "a", 1)
	sender.Broadcast(ctx, "gossip:x", 1)
	f := rs.take()
	if err := rr.host.HandleRoutedFrame(f[0].route+1, f[0].frame); !errors.Is(err, pubsub.ErrBadFrame) {
		t.Fatalf("misrouted frame: %v", err)
	}
	if err := rr.host.HandleRoutedFrame(3, f[1].frame); !errors.Is(err, pubsub.ErrBadFrame) {
		t.Fatalf("unrouted topic on a route: %v", err)
	}
	if st := recv.Stats(); st.DroppedMisrouted != 2 || st.Dropped() != 2 {
		t.Errorf("stats %+v", st)
	}
	if err := rr.host.HandleFrame(f[0].frame); err != nil { // unchecked: the adapter does not say
		t.Fatal(err)
	}
	receive(t, s)
}

// The router hears of a topic's first and last local subscription only, whatever the churn.
func TestInterestCalls(t *testing.T) {
	r := newRouter("n")
	ps := newPS(t, pubsub.Config{Adapter: r})
	s1, s2 := newSub(t, ps), newSub(t, ps)
	for range 100 {
		s1.Subscribe("a")
		s1.Subscribe("a")
		s2.Subscribe("a")
		s1.Unsubscribe("a")
		s2.Unsubscribe("a")
	}
	s1.Subscribe("b")
	s2.Subscribe("b")
	s1.Close()
	r.mu.Lock()
	if r.interest["a"] != 0 || r.interest["b"] != 1 || r.calls != 201 {
		t.Errorf("interest %v after %d calls, want a balanced, b held", r.interest, r.calls)
	}
	r.mu.Unlock()
	s2.Close()
	r.mu.Lock()
	if r.interest["b"] != 0 {
		t.Errorf("interest %v after every subscriber closed", r.interest)
	}
	r.mu.Unlock()
}

// SubscribeContext returns once the router has the topic, or with ctx's error, the subscription kept.
func TestSubscribeContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rr := newRouter("n")
		ps := newPS(t, pubsub.Config{Adapter: rr})
		s := newSub(t, ps)
		done := make(chan error, 1)
		go func() { done <- s.SubscribeContext(ctx, "a") }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("returned %v before the route was confirmed", err)
		default:
		}
		rr.release("a")
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if err := s.SubscribeContext(ctx, pubsub.GapTopic); err != nil { // not routed: at once
			t.Fatal(err)
		}
		c, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if err := s.SubscribeContext(c, "b"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("SubscribeContext past its deadline: %v", err)
		}
		ps.LocalBroadcast("b", 1) // subscribed anyway
		receive(t, s)
		if err := s.SubscribeContext(ctx, ""); !errors.Is(err, pubsub.ErrEmptyTopic) {
			t.Fatalf("empty topic: %v", err)
		}
	})
	// Without routing: at once.
	plain := newPS(t, pubsub.Config{})
	if err := newSub(t, plain).SubscribeContext(ctx, "a"); err != nil {
		t.Fatal(err)
	}
}
