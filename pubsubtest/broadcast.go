package pubsubtest

import (
	"testing"

	"github.com/phxgo/pubsub"
)

// The broadcast family on one node.
var broadcastChecks = []check{
	{"BroadcastReachesEverySubscriber", 1, testBroadcastReachesEverySubscriber},
	{"LocalDeliveryDoneOnReturn", 1, testLocalDeliveryDoneOnReturn},
	{"BroadcastFromSkipsSender", 1, testBroadcastFromSkipsSender},
	{"LocalBroadcast", 1, testLocalBroadcast},
	{"DirectBroadcastToSelf", 1, testDirectBroadcastToSelf},
	{"DirectBroadcastToUnknownNode", 1, testDirectBroadcastToUnknownNode},
	{"MustVariants", 1, testMustVariants},
	{"NodeName", 1, testNodeName},
}

func testBroadcastReachesEverySubscriber(t *testing.T, s *suite) {
	ps := s.start(t, 1).nodes[0]
	subs := []*pubsub.Subscriber{sub(t, ps, "room"), sub(t, ps, "room"), sub(t, ps, "room", "elsewhere")}
	p := &point{X: 1, Y: 2, Label: "shared"}
	noErr(t, "Broadcast", ps.Broadcast(t.Context(), "room", p))
	for _, a := range subs {
		msg := s.recv(t, a)
		// Local delivery passes the value itself, not a copy.
		if msg.Topic != "room" || msg.Payload != any(p) {
			t.Errorf("%v received topic %q, payload %#v; want \"room\" and the broadcast pointer itself", a, msg.Topic, msg.Payload)
		}
	}
	s.none(t, subs...)
}

func testLocalDeliveryDoneOnReturn(t *testing.T, s *suite) {
	ps := s.start(t, 1).nodes[0]
	a := sub(t, ps, "room")
	from := sub(t, ps, "other")
	ctx := t.Context()
	for _, c := range []errCall{
		{"Broadcast", func() error { return ps.Broadcast(ctx, "room", "x") }},
		{"BroadcastFrom", func() error { return ps.BroadcastFrom(ctx, from, "room", "x") }},
		{"LocalBroadcast", func() error { return ps.LocalBroadcast("room", "x") }},
		{"LocalBroadcastFrom", func() error { return ps.LocalBroadcastFrom(from, "room", "x") }},
		{"DirectBroadcast to this node", func() error { return ps.DirectBroadcast(ctx, ps.NodeName(), "room", "x") }},
		{"Broadcast with a dispatcher", func() error {
			return ps.Broadcast(ctx, "room", "x", pubsub.WithDispatcher(defaultDispatcher))
		}},
	} {
		noErr(t, c.name, c.call())
		queued(t, a, 1)
		for len(a.C()) > 0 {
			<-a.C()
		}
	}
}

func testBroadcastFromSkipsSender(t *testing.T, s *suite) {
	ps := s.start(t, 1).nodes[0]
	sender := sub(t, ps, "room", "room")
	other := sub(t, ps, "room")
	outsider := sub(t, ps, "elsewhere") // a sender need not be subscribed to the topic
	noErr(t, "BroadcastFrom", ps.BroadcastFrom(t.Context(), sender, "room", "from sender"))
	noErr(t, "BroadcastFrom", ps.BroadcastFrom(t.Context(), outsider, "room", "from outsider"))
	s.expect(t, sender, "room", "from outsider", "from outsider")
	s.expect(t, other, "room", "from sender", "from outsider")
	s.none(t, sender, other, outsider)
}

func testLocalBroadcast(t *testing.T, s *suite) {
	ps := s.start(t, 1).nodes[0]
	sender := sub(t, ps, "room", "room")
	other := sub(t, ps, "room")
	noErr(t, "LocalBroadcast", ps.LocalBroadcast("room", "local"))
	noErr(t, "LocalBroadcastFrom", ps.LocalBroadcastFrom(sender, "room", "local from"))
	s.expect(t, sender, "room", "local", "local")
	s.expect(t, other, "room", "local", "local from")
	s.none(t, sender, other)
}

func testDirectBroadcastToSelf(t *testing.T, s *suite) {
	ps := s.start(t, 1).nodes[0]
	a := sub(t, ps, "room", "room")
	b := sub(t, ps, "room")
	noErr(t, "DirectBroadcast to this node", ps.DirectBroadcast(t.Context(), ps.NodeName(), "room", "direct"))
	s.expect(t, a, "room", "direct", "direct")
	s.expect(t, b, "room", "direct")
	s.none(t, a, b)
}

func testDirectBroadcastToUnknownNode(t *testing.T, s *suite) {
	ps := s.start(t, 1).nodes[0]
	a := sub(t, ps, "room")
	noErr(t, "DirectBroadcast to an unknown node", ps.DirectBroadcast(t.Context(), unknownNode, "room", "lost"))
	mustNotPanic(t, "MustDirectBroadcast to an unknown node", func() {
		ps.MustDirectBroadcast(t.Context(), unknownNode, "room", "lost")
	})
	s.none(t, a)
}

func testMustVariants(t *testing.T, s *suite) {
	ps := s.start(t, 1).nodes[0]
	sender := sub(t, ps, "room")
	a := sub(t, ps, "room")
	ctx := t.Context()
	mustNotPanic(t, "MustBroadcast", func() { ps.MustBroadcast(ctx, "room", "must") })
	mustNotPanic(t, "MustBroadcastFrom", func() { ps.MustBroadcastFrom(ctx, sender, "room", "must from") })
	mustNotPanic(t, "MustDirectBroadcast", func() { ps.MustDirectBroadcast(ctx, ps.NodeName(), "room", "must direct") })
	s.expect(t, sender, "room", "must", "must direct")
	s.expect(t, a, "room", "must", "must from", "must direct")
	s.none(t, sender, a)
	// The error cases are in the Errors group: each Must… call panics with the error of its
	// non-panicking twin, wrapped in a *pubsub.BroadcastError.
}

func testNodeName(t *testing.T, s *suite) {
	ps := s.start(t, 1).nodes[0]
	name := ps.NodeName()
	if name == "" {
		t.Fatal("NodeName is empty")
	}
	if again := ps.NodeName(); again != name {
		t.Errorf("NodeName changed from %q to %q", name, again)
	}
}
