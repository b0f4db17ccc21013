package pubsubtest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
)

// Custom dispatchers on one node.
var dispatchChecks = []check{
	{"SeesEveryEntryWithMetadata", 1, testDispatcherSeesEveryEntry},
	{"FromPerVariant", 1, testDispatcherFrom},
	{"NotCalledWithoutSubscribers", 1, testDispatcherNotCalledWithoutSubscribers},
	{"DefaultDispatcherByName", 1, testDefaultDispatcherByName},
	{"MayReenter", 1, testDispatcherMayReenter},
}

func testDispatcherSeesEveryEntry(t *testing.T, s *suite) {
	c := s.start(t, 1)
	ps := c.nodes[0]
	sender := newSub(t, ps)
	mustSubscribe(t, sender, "room", pubsub.WithMetadata("special"))
	plainSub := sub(t, ps, "room")
	twice := newSub(t, ps)
	mustSubscribe(t, twice, "room", pubsub.WithMetadata(1))
	mustSubscribe(t, twice, "room", pubsub.WithMetadata(2))
	sub(t, ps, "elsewhere")

	noErr(t, "BroadcastFrom", ps.BroadcastFrom(t.Context(), sender, "room", "hi", pubsub.WithDispatcher(recordDispatcher)))
	calls := c.rec.on("room")
	if len(calls) != 1 {
		t.Fatalf("dispatcher called %d times for one broadcast on one node, want once: %v", len(calls), describeCalls(calls))
	}
	got := calls[0]
	want := []pubsub.Entry{{Subscriber: sender, Metadata: "special"}, {Subscriber: plainSub}, {Subscriber: twice, Metadata: 1}, {Subscriber: twice, Metadata: 2}}
	if !sameEntries(got.entries, want) {
		t.Errorf("dispatcher entries: %v, want (in any order) the sender's, the other subscriptions, duplicates, each with its metadata (nil without)", describeCalls(calls))
	}
	if got.from != sender || got.payload != "hi" {
		t.Errorf("dispatcher got from %v, payload %#v; want the sender and \"hi\"", got.from, got.payload)
	}
	// What the dispatcher delivered arrives, to the sender too: skipping it is the dispatcher's choice.
	s.expect(t, sender, "room", dispatched{Metadata: "special", From: sender, Payload: "hi"})
	s.expect(t, plainSub, "room", dispatched{From: sender, Payload: "hi"})
	first, second := s.recv(t, twice), s.recv(t, twice)
	metas := []any{first.Payload.(dispatched).Metadata, second.Payload.(dispatched).Metadata}
	if !slices.Contains(metas, any(1)) || !slices.Contains(metas, any(2)) {
		t.Errorf("subscriber subscribed twice received metadata %v, want 1 and 2", metas)
	}
	s.none(t, sender, plainSub, twice)
}

// sameEntries reports whether a and b hold the same entries, in any order.
func sameEntries(a, b []pubsub.Entry) bool {
	if len(a) != len(b) {
		return false
	}
	key := func(e pubsub.Entry) string { return fmt.Sprintf("%p %#v", e.Subscriber, e.Metadata) }
	count := map[string]int{}
	for _, e := range a {
		count[key(e)]++
	}
	for _, e := range b {
		count[key(e)]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}

func testDispatcherFrom(t *testing.T, s *suite) {
	c := s.start(t, 1)
	ps := c.nodes[0]
	sender := sub(t, ps, "room")
	opt := pubsub.WithDispatcher(recordDispatcher)
	ctx := t.Context()
	for _, v := range []struct {
		name string
		call func() error
		from *pubsub.Subscriber
	}{
		{"Broadcast", func() error { return ps.Broadcast(ctx, "room", "x", opt) }, nil},
		{"BroadcastFrom", func() error { return ps.BroadcastFrom(ctx, sender, "room", "x", opt) }, sender},
		{"LocalBroadcast", func() error { return ps.LocalBroadcast("room", "x", opt) }, nil},
		{"LocalBroadcastFrom", func() error { return ps.LocalBroadcastFrom(sender, "room", "x", opt) }, sender},
		{"DirectBroadcast to this node", func() error { return ps.DirectBroadcast(ctx, ps.NodeName(), "room", "x", opt) }, nil},
	} {
		before := len(c.rec.on("room"))
		noErr(t, v.name, v.call())
		calls := c.rec.on("room")[before:]
		if len(calls) != 1 {
			t.Errorf("%s: dispatcher called %d times, want once", v.name, len(calls))
			continue
		}
		if calls[0].from != v.from {
			t.Errorf("%s: dispatcher got from %v, want %v", v.name, calls[0].from, v.from)
		}
		s.expect(t, sender, "room", dispatched{From: v.from, Payload: "x"})
	}
}

func testDispatcherNotCalledWithoutSubscribers(t *testing.T, s *suite) {
	c := s.start(t, 1)
	ps := c.nodes[0]
	from := sub(t, ps, "other")
	gone := sub(t, ps, "unsubscribed", "unsubscribed")
	noErr(t, "Unsubscribe", gone.Unsubscribe("unsubscribed"))
	closed := sub(t, ps, "closed")
	noErr(t, "Close", closed.Close())
	for _, topic := range []string{"never", "unsubscribed", "closed"} {
		for _, bc := range broadcastCalls(t.Context(), ps, from, topic, pubsub.WithDispatcher(recordDispatcher)) {
			noErr(t, bc.name, bc.call())
		}
		if calls := c.rec.on(topic); len(calls) != 0 {
			t.Errorf("dispatcher called for topic %q, which has no subscriber: %v", topic, describeCalls(calls))
		}
	}
	time.Sleep(s.quiet) // a late call, from a loop-back through the adapter, would show now
	for _, topic := range []string{"never", "unsubscribed", "closed"} {
		if calls := c.rec.on(topic); len(calls) != 0 {
			t.Errorf("dispatcher called for topic %q, which has no subscriber: %v", topic, describeCalls(calls))
		}
	}
}

func testDefaultDispatcherByName(t *testing.T, s *suite) {
	ps := s.start(t, 1).nodes[0]
	sender := sub(t, ps, "room")
	other := sub(t, ps, "room", "room")
	noErr(t, "BroadcastFrom", ps.BroadcastFrom(t.Context(), sender, "room", "x", pubsub.WithDispatcher(defaultDispatcher)))
	s.expect(t, other, "room", "x", "x")
	s.none(t, sender, other)
}

func testDispatcherMayReenter(t *testing.T, s *suite) {
	c := s.start(t, 1)
	ps := c.nodes[0]
	inside := sub(t, ps, "in")
	outside := sub(t, ps, "out")
	joiner := newSub(t, ps)
	leaver := sub(t, ps, "gone")
	var fails failures
	c.setHook(func(entries []pubsub.Entry, from *pubsub.Subscriber, msg pubsub.Message) {
		if msg.Topic != "in" {
			return
		}
		report := func(what string, err error) { fails.check(what+" inside Dispatch", err) }
		ctx := t.Context()
		report("Subscribe", joiner.Subscribe("late"))
		report("Unsubscribe", leaver.Unsubscribe("gone"))
		report("Broadcast", ps.Broadcast(ctx, "out", "from dispatcher"))
		report("Broadcast with a dispatcher", ps.Broadcast(ctx, "out", "from dispatcher, dispatched", pubsub.WithDispatcher(recordDispatcher)))
		report("LocalBroadcast", ps.LocalBroadcast("out", "local from dispatcher"))
		extra := newSub(t, ps)
		report("Subscribe of a new subscriber", extra.Subscribe("in"))
		report("Close of a new subscriber", extra.Close())
	})
	within(t, s.timeout, "a Broadcast whose dispatcher subscribes and broadcasts", func() {
		fails.check("Broadcast", ps.Broadcast(t.Context(), "in", "trigger", pubsub.WithDispatcher(hookDispatcher)))
	})
	fails.report(t)
	s.expect(t, inside, "in", "trigger")
	s.expect(t, outside, "out", "from dispatcher", dispatched{Payload: "from dispatcher, dispatched"}, "local from dispatcher")
	// The subscription and the unsubscription made inside Dispatch are effective.
	noErr(t, "Broadcast", ps.Broadcast(t.Context(), "late", "late"))
	noErr(t, "Broadcast", ps.Broadcast(t.Context(), "gone", "gone"))
	s.expect(t, joiner, "late", "late")
	s.none(t, inside, outside, joiner, leaver)
}
