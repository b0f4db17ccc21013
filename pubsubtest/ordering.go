package pubsubtest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/phxgo/pubsub"
)

// Ordering: the messages of one broadcaster reach each subscriber in the order they were broadcast,
// locally and on every other node.
var orderingChecks = []check{
	{"OneBroadcaster", 1, testOrderOneBroadcaster},
	{"ManyBroadcasters", 1, testOrderManyBroadcasters},
	{"AcrossNodes", 2, testOrderAcrossNodes},
}

// orderCount is how many messages each broadcaster sends in the ordering checks.
const orderCount = 1000

func testOrderOneBroadcaster(t *testing.T, s *suite) {
	ps := s.start(t, 1).nodes[0]
	subs := make([]*pubsub.Subscriber, 3)
	for i := range subs {
		subs[i] = subscribe(t, ps, []string{"seq"}, pubsub.WithMailboxSize(orderCount))
	}
	for n := range orderCount {
		noErr(t, "Broadcast", ps.Broadcast(t.Context(), "seq", seq{N: n}))
	}
	for _, sub := range subs {
		s.expectSeqs(t, sub, "seq", map[int]int{0: orderCount})
	}
}

func testOrderManyBroadcasters(t *testing.T, s *suite) {
	const broadcasters = 4
	ps := s.start(t, 1).nodes[0]
	subs := make([]*pubsub.Subscriber, 3)
	for i := range subs {
		subs[i] = subscribe(t, ps, []string{"seq"}, pubsub.WithMailboxSize(broadcasters*orderCount))
	}
	want := map[int]int{}
	var wg sync.WaitGroup
	var fails failures
	for src := range broadcasters {
		want[src] = orderCount
		wg.Go(func() {
			for n := range orderCount {
				if err := ps.Broadcast(t.Context(), "seq", seq{Src: src, N: n}); err != nil {
					fails.add("broadcaster %d: Broadcast: %v", src, err)
					return
				}
			}
		})
	}
	within(t, s.timeout, "the broadcasters", wg.Wait)
	fails.report(t)
	for _, sub := range subs {
		s.expectSeqs(t, sub, "seq", want)
	}
}

func testOrderAcrossNodes(t *testing.T, s *suite) {
	c := s.start(t, s.clusterSize())
	n := len(c.nodes)
	subs := make([]*pubsub.Subscriber, n)
	want := map[int]int{}
	for i, ps := range c.nodes {
		subs[i] = subscribe(t, ps, []string{"seq"}, pubsub.WithMailboxSize(n*orderCount))
		want[i] = orderCount
	}
	var wg sync.WaitGroup
	var fails failures
	for i, ps := range c.nodes {
		wg.Go(func() {
			for k := range orderCount {
				if err := ps.Broadcast(t.Context(), "seq", seq{Src: i, N: k}); err != nil {
					fails.add("node %d: Broadcast: %v", i, err)
					return
				}
			}
		})
	}
	within(t, 2*s.timeout, "the broadcasters", wg.Wait)
	fails.report(t)
	for _, sub := range subs {
		s.expectSeqs(t, sub, "seq", want)
		if d := sub.Dropped(); d != 0 {
			t.Errorf("%v dropped %d messages with room for all", sub, d)
		}
	}
	s.none(t, subs...)
}

// expectSeqs receives the seq messages that want describes (want[src] messages numbered 0, 1, … from
// each broadcaster src) and checks that each broadcaster's arrive in order, none missing, none twice.
func (s *suite) expectSeqs(t testing.TB, sub *pubsub.Subscriber, topic string, want map[int]int) {
	t.Helper()
	total := 0
	for _, n := range want {
		total += n
	}
	next := map[int]int{}
	for range total {
		msg := s.recv(t, sub)
		q, ok := msg.Payload.(seq)
		if !ok || msg.Topic != topic {
			t.Fatalf("%v: received %q %#v, want a seq on %q", sub, msg.Topic, msg.Payload, topic)
		}
		if _, known := want[q.Src]; !known {
			t.Fatalf("%v: received %+v from an unexpected broadcaster", sub, q)
		}
		if q.N != next[q.Src] {
			t.Fatalf("%v: from broadcaster %d received message %d after %d (%s)", sub, q.Src, q.N, next[q.Src]-1, orderProblem(q.N, next[q.Src]))
		}
		next[q.Src]++
	}
}

func orderProblem(got, want int) string {
	switch {
	case got < want:
		return "duplicate or reordered"
	default:
		return fmt.Sprintf("%d missing or reordered", got-want)
	}
}
