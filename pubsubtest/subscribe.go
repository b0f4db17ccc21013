package pubsubtest

import (
	"context"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
)

// Subscribe and unsubscribe: Phoenix's subscription semantics.
var subscribeChecks = []check{
	{"SubscribeThenBroadcast", 1, testSubscribeThenBroadcast},
	{"DuplicatesDeliverDuplicates", 1, testDuplicates},
	{"UnsubscribeRemovesDuplicates", 1, testUnsubscribeRemovesDuplicates},
	{"UnsubscribeUnknownTopic", 1, testUnsubscribeUnknownTopic},
	{"UnsubscribeKeepsOtherTopics", 1, testUnsubscribeKeepsOtherTopics},
	{"OtherTopicsUnaffected", 1, testOtherTopicsUnaffected},
	{"CloseRemovesSubscriptions", 1, testCloseRemovesSubscriptions},
	{"ReceiveHonoursContext", 1, testReceiveHonoursContext},
	{"SubscriberIDsDistinct", 1, testSubscriberIDsDistinct},
}

func testSubscribeThenBroadcast(t *testing.T, s *suite) {
	ps := s.start(t, 1).nodes[0]
	a := sub(t, ps, "room")
	noErr(t, "Broadcast", ps.Broadcast(t.Context(), "room", "hello"))
	s.expect(t, a, "room", "hello")
	s.none(t, a)
}

func testDuplicates(t *testing.T, s *suite) {
	ps := s.start(t, 1).nodes[0]
	a := sub(t, ps, "room", "room")
	b := sub(t, ps, "room")
	noErr(t, "Broadcast", ps.Broadcast(t.Context(), "room", "hello"))
	s.expect(t, a, "room", "hello", "hello")
	s.expect(t, b, "room", "hello")
	s.none(t, a, b)
}

func testUnsubscribeRemovesDuplicates(t *testing.T, s *suite) {
	ps := s.start(t, 1).nodes[0]
	a := sub(t, ps, "room", "room", "room")
	b := sub(t, ps, "room")
	noErr(t, "Unsubscribe", a.Unsubscribe("room"))
	noErr(t, "Broadcast", ps.Broadcast(t.Context(), "room", "after unsubscribe"))
	s.expect(t, b, "room", "after unsubscribe")
	s.none(t, a, b)

	// The subscriber is still usable, and a new subscription counts once.
	mustSubscribe(t, a, "room")
	noErr(t, "Broadcast", ps.Broadcast(t.Context(), "room", "resubscribed"))
	s.expect(t, a, "room", "resubscribed")
	s.expect(t, b, "room", "resubscribed")
	s.none(t, a, b)
}

func testUnsubscribeUnknownTopic(t *testing.T, s *suite) {
	ps := s.start(t, 1).nodes[0]
	a := newSub(t, ps)
	noErr(t, "Unsubscribe of a topic never subscribed", a.Unsubscribe("never"))
	mustSubscribe(t, a, "room")
	noErr(t, "Unsubscribe of another topic", a.Unsubscribe("never"))
	noErr(t, "Unsubscribe", a.Unsubscribe("room"))
	noErr(t, "second Unsubscribe", a.Unsubscribe("room"))
}

func testUnsubscribeKeepsOtherTopics(t *testing.T, s *suite) {
	ps := s.start(t, 1).nodes[0]
	a := sub(t, ps, "one", "two")
	noErr(t, "Unsubscribe", a.Unsubscribe("one"))
	noErr(t, "Broadcast", ps.Broadcast(t.Context(), "one", "on one"))
	noErr(t, "Broadcast", ps.Broadcast(t.Context(), "two", "on two"))
	s.expect(t, a, "two", "on two")
	s.none(t, a)
}

func testOtherTopicsUnaffected(t *testing.T, s *suite) {
	ps := s.start(t, 1).nodes[0]
	one := sub(t, ps, "one")
	two := sub(t, ps, "two")
	prefix := sub(t, ps, "on") // topics are exact strings, not prefixes or patterns
	noErr(t, "Broadcast", ps.Broadcast(t.Context(), "one", "on one"))
	s.expect(t, one, "one", "on one")
	s.none(t, one, two, prefix)
}

func testCloseRemovesSubscriptions(t *testing.T, s *suite) {
	c := s.start(t, 1)
	ps := c.nodes[0]
	a := sub(t, ps, "one", "one", "two")
	other := sub(t, ps, "one")
	noErr(t, "Broadcast", ps.Broadcast(t.Context(), "one", "before"))
	noErr(t, "Close", a.Close())
	noErr(t, "second Close", a.Close())

	// What was queued stays readable; then the mailbox is closed.
	s.expect(t, a, "one", "before", "before")
	s.awaitClosed(t, a)
	_, err := a.Receive(t.Context())
	isErr(t, "Receive after Close", err, pubsub.ErrSubscriberClosed)
	isErr(t, "Subscribe after Close", a.Subscribe("three"), pubsub.ErrSubscriberClosed)
	isErr(t, "Unsubscribe after Close", a.Unsubscribe("one"), pubsub.ErrSubscriberClosed)

	// Every subscription is gone from the registry: a dispatcher no longer sees the subscriber.
	noErr(t, "Broadcast", ps.Broadcast(t.Context(), "one", "after", pubsub.WithDispatcher(recordDispatcher)))
	noErr(t, "Broadcast", ps.Broadcast(t.Context(), "two", "after", pubsub.WithDispatcher(recordDispatcher)))
	calls := c.rec.on("one")
	if len(calls) != 1 || len(calls[0].entries) != 1 || calls[0].entries[0].Subscriber != other {
		t.Errorf("dispatcher calls for \"one\" after Close: %v, want one call with the other subscriber only", describeCalls(calls))
	}
	if calls := c.rec.on("two"); len(calls) != 0 {
		t.Errorf("dispatcher called for \"two\", whose only subscriber was closed: %v", describeCalls(calls))
	}
	s.expect(t, other, "one", "before", dispatched{Payload: "after"})
	s.none(t, other)
}

func testReceiveHonoursContext(t *testing.T, s *suite) {
	ps := s.start(t, 1).nodes[0]
	a := sub(t, ps, "room")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	_, err := a.Receive(ctx)
	isErr(t, "Receive with a deadline and no message", err, context.DeadlineExceeded)

	noErr(t, "Broadcast", ps.Broadcast(t.Context(), "room", "hello"))
	ctx, cancel = context.WithTimeout(t.Context(), s.timeout)
	defer cancel()
	msg, err := a.Receive(ctx)
	noErr(t, "Receive", err)
	if msg.Topic != "room" || msg.Payload != "hello" {
		t.Errorf("Receive returned %+v, want topic \"room\", payload \"hello\"", msg)
	}
}

func testSubscriberIDsDistinct(t *testing.T, s *suite) {
	ps := s.start(t, 1).nodes[0]
	seen := map[uint64]bool{}
	for range 100 {
		id := newSub(t, ps).ID()
		if seen[id] {
			t.Fatalf("two subscribers of one PubSub have the ID %d", id)
		}
		seen[id] = true
	}
}
