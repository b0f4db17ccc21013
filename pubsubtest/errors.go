package pubsubtest

import (
	"context"
	"testing"

	"github.com/phxgo/pubsub"
)

// Errors: bad arguments and closed PubSubs and subscribers, through every call that can see them.
var errorChecks = []check{
	{"EmptyTopic", 1, testEmptyTopic},
	{"EmptyNode", 1, testEmptyNode},
	{"NilSubscriber", 1, testNilSubscriber},
	{"ClosedSubscriber", 1, testClosedSubscriber},
	{"ForeignSubscriber", 1, testForeignSubscriber},
	{"UnknownDispatcher", 1, testUnknownDispatcher},
	{"ClosedPubSub", 1, testClosedPubSub},
}

// errCall is a named call that returns an error.
type errCall struct {
	name string
	call func() error
}

// broadcastCalls returns one call of each broadcast function on topic, the *From ones from from, and
// DirectBroadcast both to this node and to an unknown one.
func broadcastCalls(ctx context.Context, ps *pubsub.PubSub, from *pubsub.Subscriber, topic string, opts ...pubsub.BroadcastOption) []errCall {
	return []errCall{
		{"Broadcast", func() error { return ps.Broadcast(ctx, topic, "x", opts...) }},
		{"BroadcastFrom", func() error { return ps.BroadcastFrom(ctx, from, topic, "x", opts...) }},
		{"LocalBroadcast", func() error { return ps.LocalBroadcast(topic, "x", opts...) }},
		{"LocalBroadcastFrom", func() error { return ps.LocalBroadcastFrom(from, topic, "x", opts...) }},
		{"DirectBroadcast to this node", func() error { return ps.DirectBroadcast(ctx, ps.NodeName(), topic, "x", opts...) }},
		{"DirectBroadcast to an unknown node", func() error { return ps.DirectBroadcast(ctx, unknownNode, topic, "x", opts...) }},
	}
}

// mustCalls returns one call of each Must… function, with the Op its *pubsub.BroadcastError names.
func mustCalls(ctx context.Context, ps *pubsub.PubSub, from *pubsub.Subscriber, topic string, opts ...pubsub.BroadcastOption) []struct {
	name, op string
	call     func()
} {
	return []struct {
		name, op string
		call     func()
	}{
		{"MustBroadcast", "broadcast", func() { ps.MustBroadcast(ctx, topic, "x", opts...) }},
		{"MustBroadcastFrom", "broadcast_from", func() { ps.MustBroadcastFrom(ctx, from, topic, "x", opts...) }},
		{"MustDirectBroadcast", "direct_broadcast", func() { ps.MustDirectBroadcast(ctx, ps.NodeName(), topic, "x", opts...) }},
	}
}

func testEmptyTopic(t *testing.T, s *suite) {
	ps := s.start(t, 1).nodes[0]
	a := newSub(t, ps)
	isErr(t, `Subscribe("")`, a.Subscribe(""), pubsub.ErrEmptyTopic)
	isErr(t, `Unsubscribe("")`, a.Unsubscribe(""), pubsub.ErrEmptyTopic)
	for _, c := range broadcastCalls(t.Context(), ps, a, "") {
		isErr(t, c.name+` to topic ""`, c.call(), pubsub.ErrEmptyTopic)
	}
	for _, c := range mustCalls(t.Context(), ps, a, "") {
		mustPanic(t, c.name+` to topic ""`, c.op, "", pubsub.ErrEmptyTopic, c.call)
	}
}

func testEmptyNode(t *testing.T, s *suite) {
	ps := s.start(t, 1).nodes[0]
	a := sub(t, ps, "room")
	isErr(t, `DirectBroadcast to node ""`, ps.DirectBroadcast(t.Context(), "", "room", "x"), pubsub.ErrEmptyNode)
	mustPanic(t, `MustDirectBroadcast to node ""`, "direct_broadcast", "room", pubsub.ErrEmptyNode, func() {
		ps.MustDirectBroadcast(t.Context(), "", "room", "x")
	})
	s.none(t, a)
}

func testNilSubscriber(t *testing.T, s *suite) {
	ps := s.start(t, 1).nodes[0]
	a := sub(t, ps, "room")
	isErr(t, "BroadcastFrom(nil)", ps.BroadcastFrom(t.Context(), nil, "room", "x"), pubsub.ErrNilSubscriber)
	isErr(t, "LocalBroadcastFrom(nil)", ps.LocalBroadcastFrom(nil, "room", "x"), pubsub.ErrNilSubscriber)
	mustPanic(t, "MustBroadcastFrom(nil)", "broadcast_from", "room", pubsub.ErrNilSubscriber, func() {
		ps.MustBroadcastFrom(t.Context(), nil, "room", "x")
	})
	var nilSub *pubsub.Subscriber
	isErr(t, "Subscribe on a nil *Subscriber", nilSub.Subscribe("room"), pubsub.ErrNilSubscriber)
	isErr(t, "Unsubscribe on a nil *Subscriber", nilSub.Unsubscribe("room"), pubsub.ErrNilSubscriber)
	s.none(t, a) // a failed broadcast delivers nothing
}

func testClosedSubscriber(t *testing.T, s *suite) {
	ps := s.start(t, 1).nodes[0]
	a := sub(t, ps, "room")
	closed := sub(t, ps, "room")
	noErr(t, "Close", closed.Close())
	isErr(t, "Subscribe after Close", closed.Subscribe("room"), pubsub.ErrSubscriberClosed)
	isErr(t, "BroadcastFrom a closed subscriber", ps.BroadcastFrom(t.Context(), closed, "room", "x"), pubsub.ErrSubscriberClosed)
	isErr(t, "LocalBroadcastFrom a closed subscriber", ps.LocalBroadcastFrom(closed, "room", "x"), pubsub.ErrSubscriberClosed)
	mustPanic(t, "MustBroadcastFrom a closed subscriber", "broadcast_from", "room", pubsub.ErrSubscriberClosed, func() {
		ps.MustBroadcastFrom(t.Context(), closed, "room", "x")
	})
	s.none(t, a)
}

func testForeignSubscriber(t *testing.T, s *suite) {
	ps := s.start(t, 1).nodes[0]
	other := s.start(t, 1).nodes[0]
	a := sub(t, ps, "room")
	foreign := sub(t, other, "room")
	isErr(t, "BroadcastFrom another PubSub's subscriber", ps.BroadcastFrom(t.Context(), foreign, "room", "x"), pubsub.ErrForeignSubscriber)
	isErr(t, "LocalBroadcastFrom another PubSub's subscriber", ps.LocalBroadcastFrom(foreign, "room", "x"), pubsub.ErrForeignSubscriber)
	mustPanic(t, "MustBroadcastFrom another PubSub's subscriber", "broadcast_from", "room", pubsub.ErrForeignSubscriber, func() {
		ps.MustBroadcastFrom(t.Context(), foreign, "room", "x")
	})
	s.none(t, a, foreign)
}

func testUnknownDispatcher(t *testing.T, s *suite) {
	c := s.start(t, 1)
	ps := c.nodes[0]
	from := sub(t, ps, "other")
	a := sub(t, ps, "room")
	opt := pubsub.WithDispatcher(unknownDispatcher)
	for _, bc := range broadcastCalls(t.Context(), ps, from, "room", opt) {
		isErr(t, bc.name+" with an unknown dispatcher", bc.call(), pubsub.ErrUnknownDispatcher)
	}
	for _, mc := range mustCalls(t.Context(), ps, from, "room", opt) {
		mustPanic(t, mc.name+" with an unknown dispatcher", mc.op, "room", pubsub.ErrUnknownDispatcher, mc.call)
	}
	s.none(t, a, from)
}

func testClosedPubSub(t *testing.T, s *suite) {
	ps := s.start(t, 1).nodes[0]
	a := sub(t, ps, "room")
	from := sub(t, ps, "other")
	noErr(t, "Close", ps.Close())
	noErr(t, "second Close", ps.Close())

	// Close closed every subscriber: mailbox closed, and every call returns ErrClosed.
	s.awaitClosed(t, a)
	_, err := a.Receive(t.Context())
	isErr(t, "Receive on a subscriber of a closed PubSub", err, pubsub.ErrClosed)
	isErr(t, "Subscribe on a subscriber of a closed PubSub", a.Subscribe("room"), pubsub.ErrClosed)
	isErr(t, "Unsubscribe on a subscriber of a closed PubSub", a.Unsubscribe("room"), pubsub.ErrClosed)
	noErr(t, "Close of a subscriber of a closed PubSub", a.Close())

	// No subscriber is made after Close.
	late, err := ps.NewSubscriber()
	isErr(t, "NewSubscriber after Close", err, pubsub.ErrClosed)
	if late != nil {
		t.Errorf("NewSubscriber after Close returned a subscriber")
	}

	for _, c := range broadcastCalls(t.Context(), ps, from, "room") {
		isErr(t, c.name+" after Close", c.call(), pubsub.ErrClosed)
	}
	for _, c := range mustCalls(t.Context(), ps, from, "room") {
		mustPanic(t, c.name+" after Close", c.op, "room", pubsub.ErrClosed, c.call)
	}
}
